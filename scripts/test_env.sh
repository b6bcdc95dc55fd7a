# The test environment that scripts/test.sh and scripts/test_fast.sh share (sourced, not run):
# the repository on the path, test secrets unless the caller set its own.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PYTHONPATH=.
export NUMI_SECRET=${NUMI_SECRET:-test-secret}
export NUMI_RASA_TOKEN=${NUMI_RASA_TOKEN:-test-rasa-token}
export NUMI_ACTION_TOKEN=${NUMI_ACTION_TOKEN:-test-action-token}
export PYTHONWARNINGS=ignore
