"""Where the stack's clients find it, and the credentials generated per run."""

from __future__ import annotations

from urllib.parse import quote

from pydantic import BaseModel, ConfigDict


class DatabaseEndpoint(BaseModel):
    """The stack's PostgreSQL as a client reaches it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str
    port: int
    user: str = "mev_user"
    dbname: str = "mev_db"

    def url(self, password: str | None = None) -> str:
        """A libpq URL; the password only when given (keep it out of argv)."""
        auth = self.user if password is None else f"{self.user}:{quote(password)}"
        return f"postgresql://{auth}@{self.host}:{self.port}/{self.dbname}"


class Endpoints(BaseModel):
    """Every client-facing address of the stack, through the fault proxy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    proxy_api: str
    rpc: dict[str, str]
    mev_boost: str
    mev_api: str
    relays: dict[str, str]
    database: DatabaseEndpoint

    def service_urls(self) -> dict[str, str]:
        """Each service's client-facing URL by service name."""
        urls = {f"erigon-{chain}": url for chain, url in self.rpc.items()}
        urls.update(self.relays)
        urls["mev-boost"] = self.mev_boost
        urls["mev-api"] = self.mev_api
        urls["postgres"] = self.database.url()
        return urls


class Secrets(BaseModel):
    """Credentials generated for one run; never printed, redacted in reports."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    db_password: str
    api_key: str

    def values(self) -> tuple[str, ...]:
        """Every secret string, for redaction."""
        return (self.db_password, self.api_key)
