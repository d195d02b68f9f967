import pytest
from pydantic import ValidationError

from bot.settings import Settings


def test_defaults(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name in ("DATABASE_URL", "TIMEZONE", "LOCALE", "CURRENCY"):
        monkeypatch.delenv(f"TIERBOT_{name}", raising=False)
    s = Settings()
    assert (s.database_url, s.timezone, s.locale, s.currency) == (
        "sqlite:///tierbot.db", "UTC", "en", "USD")


def test_dotenv_and_environment(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("TIERBOT_LOCALE=zh\nTIERBOT_CURRENCY=cny\n")
    monkeypatch.setenv("TIERBOT_TIMEZONE", "Asia/Shanghai")
    s = Settings()
    assert (s.locale, s.currency, s.timezone) == ("zh", "CNY", "Asia/Shanghai")


@pytest.mark.parametrize("name, value", [("TIERBOT_LOCALE", "fr"), ("TIERBOT_CURRENCY", "dollars"),
                                          ("TIERBOT_TIMEZONE", "Nowhere")])
def test_bad_values_rejected(monkeypatch, tmp_path, name, value):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_password_never_shown():
    s = Settings(database_url="postgresql://bot:s3cret@db/tierbot")
    assert "s3cret" not in s.safe_database_url()
