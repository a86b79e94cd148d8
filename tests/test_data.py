"""Loading and validating data folders: corrupted copies are caught and named."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cityindex.data import load_dataset
from cityindex.errors import DataError, SpecError


def edit(path, old, new, count=1):
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def test_builtin_dataset_loads(dataset):
    assert dataset.n_units == 106
    assert dataset.indicators.shape == (106, 6)
    assert dataset.published.shape == (106, 4)
    assert dataset.indicators.at["北京", "dissemination"] == 100.0
    # printed decimals are kept per cell: 南充's dissemination is printed 0.008
    assert dataset.indicator_decimals.at["南充", "dissemination"] == 3
    assert dataset.label("北京") == "北京 Beijing"
    assert len(dataset.claims) > 100


@pytest.mark.parametrize("file,old,new,message", [
    ("indicators.csv", "北京,10.53", "北京,ten", "line 2 (北京), column 'search': 'ten'"),
    ("indicators.csv", "上海,5.26", "上海,", "line 3 (上海), column 'search': an empty cell"),
    ("indicators.csv", "上海,5.26", "上海,nan", "column 'search': 'nan'"),
    ("indicators.csv", "上海,5.26", "上海,105.26", "column 'search': value 105.26"),
    ("indicators.csv", "unit,search", "unit,searches", "unknown node column 'searches'"),
    ("indicators.csv", "\n上海,", "\n北京,", "duplicate unit '北京'"),
    ("published.csv", "北京,74.03,1", "北京,74.03,x", "column 'image_rank': 'x'"),
    ("published.csv", ",image_rank", ",images_rank", "unknown node column 'images_rank'"),
    ("cities.csv", "北京,Beijing", "北平,Beijing", "unknown unit '北平'"),
    ("subtables.csv", ",北京,communication,73.16", ",北京,comms,73.16", "unknown node 'comms'"),
    ("claims.csv", ",image,all,all,1,20,", ",image,all,all,1,x,", "column 'rank_to': 'x'"),
])
def test_corrupted_cell_is_named(data_copy, file, old, new, message):
    edit(data_copy / file, old, new)
    with pytest.raises(DataError) as info:
        load_dataset(data_copy)
    assert file in str(info.value)
    assert message in str(info.value)


def test_missing_city_is_named(data_copy):
    path = data_copy / "published.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(line for line in lines if not line.startswith("绵阳,")),
                    encoding="utf-8")
    with pytest.raises(DataError, match=r"published.csv: unit\(s\) missing: 绵阳"):
        load_dataset(data_copy)


def test_wrong_encoding_is_named(data_copy):
    path = data_copy / "indicators.csv"
    path.write_bytes(path.read_text(encoding="utf-8").encode("gb18030"))
    with pytest.raises(DataError, match=r"indicators.csv: not UTF-8"):
        load_dataset(data_copy)


def test_weights_not_summing_to_one(data_copy):
    edit(data_copy / "spec.toml", "weight = 0.70\nlabel_zh = \"国际传播量\"",
         "weight = 0.60\nlabel_zh = \"国际传播量\"")
    with pytest.raises(SpecError, match=r"children of 'communication'.*sum to 0.9"):
        load_dataset(data_copy)


def test_negative_weight(data_copy):
    edit(data_copy / "spec.toml", "weight = 0.30\nlabel_zh = \"国际传播力\"",
         "weight = -0.30\nlabel_zh = \"国际传播力\"")
    with pytest.raises(SpecError, match=r"nodes.communication\].weight: found -0.3"):
        load_dataset(data_copy)


def test_cli_bad_input_is_one_line_exit_2(data_copy):
    edit(data_copy / "indicators.csv", "北京,10.53", "北京,ten")
    proc = subprocess.run([sys.executable, "-m", "cityindex", "reproduce", str(data_copy)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "indicators.csv line 2 (北京), column 'search'" in lines[0]
