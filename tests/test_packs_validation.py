"""``dawn packs publish`` input checks: clear, located errors for a bad ContentPack JSON."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from producers.intake.packs import PackError, load_pack_file, pack_from_json

NOW = datetime(2026, 11, 22, 20, 0, tzinfo=UTC)
SHA = "ab" * 32


def good() -> dict:
    return {
        "pack_id": "pack-2026-11-23", "approval_id": "CMP-991", "run_date": "2026-11-23",
        "approved_at": "2026-11-22T18:30:00+05:30",
        "variants": [
            {"language": "EN", "template_name": "daily_pack_v1", "template_language": "en",
             "image_url": "https://cdn.example.com/p.jpg", "image_sha256": SHA},
            {"language": "HI", "template_name": "daily_pack_v1", "template_language": "hi",
             "image_url": "file:///srv/p.png", "image_sha256": SHA, "image_mime_type": "image/png"},
        ],
    }


def test_good_pack_becomes_a_record_with_real_dates(tmp_path):
    path = tmp_path / "pack.json"
    path.write_text(json.dumps(good()))
    record = load_pack_file(path, NOW)
    assert record["run_date"] == date(2026, 11, 23)
    assert record["approved_at"] == datetime(2026, 11, 22, 13, 0, tzinfo=UTC)
    assert record["published_at"] == NOW
    assert record["variants"][0]["image_mime_type"] == "image/jpeg"


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.pop("approval_id"), "approval_id: required"),
    (lambda d: d.update(run_date="23/11/2026"), "run_date: '23/11/2026' is not an ISO date"),
    (lambda d: d.update(approved_at="2026-11-22T18:30:00"), "approved_at: needs a UTC offset"),
    (lambda d: d["variants"][1].update(language="FR"), "variants[1].language: 'FR' is not one of"),
    (lambda d: d["variants"][0].update(image_sha256="xyz"), "variants[0].image_sha256: must be 64"),
    (lambda d: d["variants"][0].update(image_url="ftp://x"), "variants[0].image_url: must start"),
    (lambda d: d["variants"].pop(0), "an EN variant is required"),
    (lambda d: d["variants"].append(dict(d["variants"][0])), "language EN appears more than once"),
    (lambda d: d.update(variants=[]), "variants: must be a non-empty list"),
])
def test_bad_pack_names_the_field(change, message):
    doc = good()
    change(doc)
    with pytest.raises(PackError) as caught:
        pack_from_json(doc, NOW)
    assert any(message in p for p in caught.value.problems), caught.value.problems


def test_not_json_says_where(tmp_path):
    path = tmp_path / "pack.json"
    path.write_text('{"pack_id": ')
    with pytest.raises(PackError, match=r"is not JSON: .* line 1"):
        load_pack_file(path, NOW)
    with pytest.raises(PackError, match="cannot read"):
        load_pack_file(tmp_path / "missing.json", NOW)


def rotation_pack() -> dict:
    doc = good()
    doc["variants"][0].update(
        backups=[{"template_name": "daily_pack_v2", "template_language": "en"}],
        conservative={"template_name": "daily_pack_plain", "template_language": "en"},
        ab_variants=[
            {"arm": "A", "template_name": "daily_pack_v1", "template_language": "en", "weight": 1},
            {"arm": "B", "template_name": "daily_pack_v3", "template_language": "en", "weight": 1}])
    return doc


def test_backups_conservative_and_ab_arms_are_kept():
    record = pack_from_json(rotation_pack(), NOW)
    en = record["variants"][0]
    assert en["backups"] == [{"template_name": "daily_pack_v2", "template_language": "en"}]
    assert en["conservative"]["template_name"] == "daily_pack_plain"
    assert [a["arm"] for a in en["ab_variants"]] == ["A", "B"]
    assert record["variants"][1]["backups"] == [] and record["variants"][1]["conservative"] is None


@pytest.mark.parametrize(("change", "message"), [
    (lambda v: v.update(backups="daily_pack_v2"), "variants[0].backups: must be a list"),
    (lambda v: v["backups"].append({"template_name": "daily_pack_v1", "template_language": "en"}),
     "variants[0].backups: a template is named twice"),
    (lambda v: v["backups"].append({"template_name": ""}),
     "variants[0].backups[1].template_name: required"),
    (lambda v: v.update(conservative="plain"), "variants[0].conservative: must be an object"),
    (lambda v: v["ab_variants"].pop(), "variants[0].ab_variants: an A/B test needs at least two arms"),
    (lambda v: v["ab_variants"][1].update(arm="A"), "variants[0].ab_variants: arm names must be unique"),
    (lambda v: v["ab_variants"][1].update(weight=0), "variants[0].ab_variants[1].weight: must be a positive"),
    (lambda v: v["ab_variants"][1].update(weight="1"),
     "variants[0].ab_variants[1].weight: must be a positive"),
])
def test_bad_rotation_fields_are_named(change, message):
    doc = rotation_pack()
    change(doc["variants"][0])
    with pytest.raises(PackError) as err:
        pack_from_json(doc, NOW)
    assert any(p.startswith(message) for p in err.value.problems), err.value.problems
