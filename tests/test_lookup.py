"""Account lookup quality: keys, names, aliases, widths, typos, in English and Chinese."""
import pytest

from storage.lookup import AccountIndex, core, normalise

ACCOUNTS = [
    (1, "ACME", "ACME Corp", "Acme|Acme Corporation"),
    (2, "CN-0001", "上海华锐精密制造有限公司", "华锐|华锐精密"),
    (3, "CN-0002", "阿里巴巴集团", None),
    (4, "US-0004", "Northwind Logistics Ltd", None),
    (5, "US-0006", "Northwind Foods Inc", None),
    (6, "US-0008", "Globex Manufacturing GmbH", "Globex"),
    (7, "CN-0009", "深圳鼎信科技有限公司", "鼎信"),
    (8, "CN-0011", "杭州鼎信化工集团", None),
    (9, "US-0010", "Initech Systems LLC", None),
    (10, "US-0012", "Acme Foods Inc", None),
]


@pytest.fixture(scope="module")
def index():
    return AccountIndex(ACCOUNTS)


def test_normalise_and_core():
    assert normalise("ＡＣＭＥ　Ｃｏｒｐ.") == "acmecorp"
    assert normalise(" Acme-Corp, Inc. ") == "acmecorpinc"
    assert core("ACME Corp.") == "acme"
    assert core("Northwind Logistics Ltd") == "northwindlogistics"
    assert core("上海华锐精密制造有限公司") == "上海华锐精密制造"
    assert core("阿里巴巴集团") == "阿里巴巴"


ONE = [
    ("ACME", 1, "key"), ("acme", 1, "key"), ("cn-0001", 2, "key"), ("CN0001", 2, "key"),
    ("ACME Corp", 1, "name"), ("ａｃｍｅ ｃｏｒｐ".replace("ａ", "ａ"), 1, "name"),
    ("acme corporation", 1, "alias"), ("Acme Corp.", 1, "name"),
    ("上海华锐精密制造有限公司", 2, "name"), ("华锐", 2, "alias"), ("华锐精密", 2, "alias"),
    ("阿里巴巴", 3, "name"), ("阿里巴巴集团", 3, "name"), ("阿里", 3, "contains"),
    ("Globex", 6, "alias"), ("globex manufacturing", 6, "name"),
    ("Acme Corpp", 1, "fuzzy"), ("Nortwind Logistcs", 4, "fuzzy"), ("Initek Systems", 9, "fuzzy"),
    ("Globx Manufacturng", 6, "fuzzy"), ("上海华锐精密制造有限责任公司", 2, "name"),
    ("上海华瑞精密制造", 2, "fuzzy"), ("深圳鼎信科技", 7, "name"), ("鼎信科技", 7, "contains"),
]


@pytest.mark.parametrize("query, account_id, via", ONE, ids=[q for q, *_ in ONE])
def test_one_clear_match(index, query, account_id, via):
    result = index.find(query)
    assert result.status == "one", result
    assert (result.account.account_id, result.account.via) == (account_id, via)


@pytest.mark.parametrize("query, expected", [
    ("Northwind", {4, 5}),          # two Northwinds: let the rep choose
    ("鼎信", {7}),                   # the alias wins outright ...
    ("鼎信化工", {8}),                # ... and a longer substring picks the other
    ("acme foods", {10}),
])
def test_close_contenders_are_listed_with_keys(index, query, expected):
    result = index.find(query)
    assert {c.account_id for c in result.matches} == expected
    assert result.status == ("one" if len(expected) == 1 else "several")
    assert all(c.key for c in result.matches)


def test_several_never_lists_more_than_five():
    many = AccountIndex([(i, f"K{i}", f"Harbor Supply {i}", None) for i in range(40)])
    result = many.find("harbor supply")
    assert result.status == "several" and len(result.matches) == 5


@pytest.mark.parametrize("query", ["zzzz", "", "   ", "!!!", "完全不相关的名字"])
def test_nothing_found(index, query):
    result = index.find(query)
    assert result.status == "none"
    assert all(c.score < 60 for c in result.matches)


def test_none_comes_with_suggestions_when_something_is_alike(index):
    result = index.find("Acmx Fds")
    assert result.status in ("none", "several")
    assert result.matches and result.matches[0].account_id in (1, 10)


def test_index_from_the_database(engine):
    from datetime import date

    from storage.demo import generate_demo, load_demo
    from storage.lookup import load_account_index

    load_demo(engine, generate_demo(accounts=60, seed=2, today=date(2026, 11, 22)))
    index = load_account_index(engine)
    assert len(index) == 60
    assert index.find("acme corpp").account.key == "ACME"
    assert index.find("华锐").account.key == "CN-0001"
    assert index.find("上海华锐精密").account.key == "CN-0001"
