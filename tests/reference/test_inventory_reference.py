"""docs/inventory-reference.md documents every key of the inventory contract, as it is now.

The tables are generated from the pydantic model; a key added to ``opsverify/inventory.py``
without a meaning in ``tests/reference/inventory_doc.py``, or a document not regenerated
since, fails here with the command that fixes it.
"""

from __future__ import annotations

from tests.reference import inventory_doc

FIX = "describe it in tests/reference/inventory_doc.py MEANINGS, then run " \
      "`.venv/bin/python -m tests.reference.inventory_doc --write`"


def test_every_inventory_key_has_a_meaning() -> None:
    missing = inventory_doc.undocumented()
    assert not missing, f"inventory keys without documentation: {', '.join(missing)}; {FIX}"


def test_reference_document_matches_the_model() -> None:
    block = inventory_doc.current_block(inventory_doc.DOC.read_text())
    assert block == inventory_doc.render(), (
        f"{inventory_doc.DOC} is older than opsverify/inventory.py; {FIX}")


def test_no_stale_meanings() -> None:
    """A meaning for a key the model no longer has would document a key that does not exist."""
    fields = {(name, key) for name, m in inventory_doc.models().items() for key in m.model_fields}
    stale = sorted(f"{m}.{k}" for m, k in inventory_doc.MEANINGS if (m, k) not in fields)
    assert not stale, f"documented keys that no longer exist: {', '.join(stale)}"
