"""CSV import: valid files land, an invalid row imports nothing and names its line."""
import pytest

from numi.db import models as m
from numi.importer import ImportError_, import_csv


def test_customers_then_invoices(db):
    n = import_csv(db, "customers", "id;first_name;last_name;email;phone;segment\n"
                                    "CLT-01001;Alice;Roux;alice.roux@example.fr;06 01 02 03 04;vip\n"
                                    "CLT-01002;Bruno;Petit;;;\n")
    assert n == 2 and db.get(m.Customer, "CLT-01001").segment == "vip"
    assert import_csv(db, "invoices", "id,customer_id,issued_on,period,amount_eur,label\n"
                                      "FAC-X-1,CLT-01001,2026-10-01,2026-10,\"29,90\",Abonnement\n") == 1
    assert str(db.get(m.Invoice, "FAC-X-1").amount_eur) in ("29.90", "29.9")


@pytest.mark.parametrize("content,line", [
    ("id;email\nCLT-01003;pas-un-mail\n", "ligne 2"),
    ("id;email\nCLT-01004;a@b.fr\nXX-1;c@d.fr\n", "ligne 3"),
])
def test_an_invalid_row_imports_nothing(db, content, line):
    with pytest.raises(ImportError_) as exc:
        import_csv(db, "customers", content)
    assert line in str(exc.value)
    assert db.get(m.Customer, "CLT-01004") is None


def test_invoices_for_unknown_customers_are_refused(db):
    with pytest.raises(ImportError_, match="client inconnu"):
        import_csv(db, "invoices",
                   "id,customer_id,issued_on,period,amount_eur,label\nF1,CLT-77777,2026-10-01,2026-10,10,x\n")
