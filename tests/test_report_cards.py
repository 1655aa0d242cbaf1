"""Card `reported` values are keyed by attack id: every card in the zoo is, and `bench zoo add`
refuses a card keyed by display labels before anything is registered."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bench.cli import main
from bench.zoo.reported import key_problems

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("card", sorted(REPO.glob("zoo/*/card.yaml")), ids=lambda p: p.parent.name)
def test_every_zoo_card_keys_its_paper_values_by_attack_id(card: Path) -> None:
    assert key_problems(yaml.safe_load(card.read_text()).get("reported"), str(card)) == []


def test_zoo_add_refuses_label_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "sub"
    folder.mkdir()
    card = {"id": "Sub", "family": "t", "description": "d", "source": {"paper": "p"}, "architecture": "a",
            "factory": "m:f", "checkpoint": {"file": "w.safetensors"},
            "reported": {"PGD": 0.3, "benign": 0.99, "transfer[softmax1]": 0.1, "worst_case@0.3": 0.2, "pgd@0.3": 0.1}}
    (folder / "card.yaml").write_text(yaml.safe_dump(card))
    assert main(["zoo", "add", str(folder), "--id-check-only", "--zoo-dir", str(tmp_path / "zoo")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"{folder / 'card.yaml'}: reported.PGD: a column's display label; key it by the attack id ('pgd')",
                   f"{folder / 'card.yaml'}: reported.pgd@0.3: not an attack-id key "
                   "(<attack>, <attack>.<field>, <attack>[<source>], worst_case[@<eps>])"]
    assert not (tmp_path / "zoo").exists()
