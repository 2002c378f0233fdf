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


def _per_advisor_pack(tmp_path, post: bytes, status: bytes, linkedin: bytes) -> dict:
    urls = []
    for name, data in (("post.png", post), ("status.jpg", status), ("li.png", linkedin)):
        (tmp_path / name).write_bytes(data)
        urls.append((tmp_path / name).as_uri())
    doc = good()
    doc["advisor_media"] = [{"advisor_id": "ADV000001", "media_urls": urls}]
    return doc


def _png(size=(32, 32)) -> bytes:
    import io

    from PIL import Image
    out = io.BytesIO()
    Image.new("RGB", size, (10, 20, 30)).save(out, "PNG")
    return out.getvalue()


def test_brief_media_urls_become_slot_images_with_hashes_from_the_bytes(tmp_path):
    import hashlib

    from producers.intake.packs import check_media, fetch_url
    jpeg = b"\xff\xd8\xff\xe0" + b"\0" * 100
    record = pack_from_json(_per_advisor_pack(tmp_path, _png(), jpeg, _png((8, 8))), NOW)
    # The shared variants' https URL is not reachable here; only check the advisor's images.
    record["variants"] = []
    check_media(record, fetch_url)
    images = record["advisor_media"][0]["images"]
    assert [i["slot"] for i in images] == ["POST", "STATUS", "LINKEDIN"]
    assert images[1]["image_mime_type"] == "image/jpeg"
    assert images[1]["image_sha256"] == hashlib.sha256(jpeg).hexdigest()


@pytest.mark.parametrize(("bad", "message"), [
    (b"GIF89a" + b"\0" * 50, "is not a JPEG or PNG image"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * (5 * 1024 * 1024), "Meta accepts images up to 5 MB"),
])
def test_bad_advisor_image_is_named(tmp_path, bad, message):
    from producers.intake.packs import check_media, fetch_url
    record = pack_from_json(_per_advisor_pack(tmp_path, _png(), bad, _png()), NOW)
    record["variants"] = []
    with pytest.raises(PackError) as caught:
        check_media(record, fetch_url)
    assert [p for p in caught.value.problems if message in p and "images[1]" in p], \
        caught.value.problems


def test_unreachable_images_are_named(tmp_path):
    from producers.intake.packs import check_media, fetch_url
    doc = _per_advisor_pack(tmp_path, _png(), _png(), _png())
    doc["advisor_media"][0]["media_urls"][2] = (tmp_path / "missing.png").as_uri()
    doc["variants"][0]["image_url"] = "https://127.0.0.1:9/nothing.jpg"
    record = pack_from_json(doc, NOW)
    record["variants"] = record["variants"][:1]
    with pytest.raises(PackError) as caught:
        check_media(record, lambda url: fetch_url(url, timeout=2.0))
    problems = caught.value.problems
    assert any("variants[0].image_url: cannot fetch https://127.0.0.1:9" in p for p in problems)
    assert any("advisor_media[0].images[2].image_url: cannot fetch" in p for p in problems)


def test_media_urls_must_be_three(tmp_path):
    doc = good()
    doc["advisor_media"] = [{"advisor_id": "A", "media_urls": ["https://x/a.jpg"]}]
    with pytest.raises(PackError, match="must list 3 URLs"):
        pack_from_json(doc, NOW)


def test_declared_hash_that_lies_is_refused(tmp_path):
    from producers.intake.packs import check_media, fetch_url
    (tmp_path / "p.png").write_bytes(_png())
    doc = good()
    doc["variants"] = [dict(doc["variants"][0], image_url=(tmp_path / "p.png").as_uri(),
                            image_mime_type="image/png")]
    with pytest.raises(PackError, match="image_sha256 does not match"):
        check_media(pack_from_json(doc, NOW), fetch_url)
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
