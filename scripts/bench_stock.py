"""`make bench-stock`: the stock `rasa init` bot, measured by the same client as `make bench`.

The issue's targets are relative to the stock bot "on these machines": this measures it here,
in the same way (POST /model/parse alone; REST webhook at 1 and 10 concurrent conversations of
10 turns; the 1st and 50th message of a conversation). The stock project is created and trained
once into models/stock/ (`rasa init --no-prompt`), then reused. Writes results/bench-stock.json.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench import growth, load, parse_alone, report, rss_mb  # noqa: E402
from numi.devstack import free_port, http  # noqa: E402

RASA = str(Path(sys.executable).parent / "rasa")
PROJECT = ROOT / "models" / "stock"
MOODBOT = ["hello", "I am sad", "no", "I am very happy now", "great", "are you a bot?", "hi there",
           "perfect", "thanks", "bye"]


class StockBot:
    def __init__(self, project: Path) -> None:
        self.rasa_port = free_port()
        self.rasa = f"http://127.0.0.1:{self.rasa_port}"
        self.rasa_token = "stock-token"
        self.log = tempfile.NamedTemporaryFile("w", prefix="rasa-stock-", suffix=".log", delete=False)
        model = sorted((project / "models").glob("*.tar.gz"))[-1]
        self.proc = subprocess.Popen([RASA, "run", "--model", str(model), "--enable-api", "--auth-token",
                                      self.rasa_token, "--port", str(self.rasa_port)],
                                     cwd=project, stdout=self.log, stderr=subprocess.STDOUT)

    def wait(self) -> "StockBot":
        deadline = time.time() + 180
        while time.time() < deadline and self.proc.poll() is None:
            try:
                if http("GET", f"{self.rasa}/status?token={self.rasa_token}", timeout=2)[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError("the stock bot did not start: " + Path(self.log.name).read_text()[-2000:])

    def say(self, sender: str, message: str) -> tuple:
        return http("POST", f"{self.rasa}/webhooks/rest/webhook", {"sender": sender, "message": message})

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def ensure_project() -> float:
    """Create and train the stock project once; returns the training time (0 when reused)."""
    if list((PROJECT / "models").glob("*.tar.gz")):
        return 0.0
    shutil.rmtree(PROJECT, ignore_errors=True)
    PROJECT.mkdir(parents=True)
    start = time.perf_counter()
    subprocess.run([RASA, "init", "--no-prompt", "--init-dir", str(PROJECT)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    trained = ensure_project()
    start = time.perf_counter()
    bot = StockBot(PROJECT).wait()
    results = {"startup_s": round(time.perf_counter() - start, 1)}
    if trained:
        results["rasa_init_with_training_s"] = round(trained, 1)
    try:
        for _ in range(3):
            load(bot, 1, 1, conversation=MOODBOT)
        results["model_parse"] = parse_alone(bot, ["hello", "I am sad", "great", "are you a bot?"])
        results["webhook_1_conversation"] = load(bot, 10, 1, conversation=MOODBOT)
        results["webhook_10_conversations"] = load(bot, 30, 10, conversation=MOODBOT)
        results.update(growth(bot, "hello", "great"))
        results["rss_mb"] = rss_mb(bot.proc.pid)
    finally:
        bot.stop()
    report(results, "bench-stock.json")


if __name__ == "__main__":
    main()
