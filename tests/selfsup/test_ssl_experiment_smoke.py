"""The déjà vu reproduction runs end to end in seconds (--smoke) and records its four criteria."""

import json


def test_ssl_dejavu_smoke(tmp_path, one_torch_thread):
    from experiments import ssl_dejavu

    r = ssl_dejavu.main(["--smoke", "--no-progress", "--out", str(tmp_path)])
    assert set(r["criteria"]) == {"a_reference_near_chance", "b_gap_top20", "c_gap_grows", "d_backbone_smaller"}
    assert [c["epoch"] for c in r["curves"]["projector"]] == [1, 3]
    saved = json.loads((tmp_path / "ssl_dejavu.json").read_text())
    assert saved["criteria"] == r["criteria"] and (tmp_path / "report.html").is_file()
