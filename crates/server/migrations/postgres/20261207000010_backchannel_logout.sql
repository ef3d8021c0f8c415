-- Back-channel logout (issue 35); as SQLite's migration 17.
ALTER TABLE sessions ADD COLUMN provider_sid text COLLATE "C";
CREATE INDEX sessions_by_provider_sid ON sessions (provider_sid) WHERE provider_sid IS NOT NULL;

CREATE TABLE logout_tokens (
    issuer          text COLLATE "C" NOT NULL,
    jti             text COLLATE "C" NOT NULL,
    expires_at      text COLLATE "C" NOT NULL,
    PRIMARY KEY (issuer, jti)
);

ALTER TABLE connectors ADD COLUMN checks_users boolean;
