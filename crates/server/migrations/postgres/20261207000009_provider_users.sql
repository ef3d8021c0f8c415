-- Users who sign in through the organization's OpenID Connect provider (issue 35); as SQLite's
-- migration 16.
ALTER TABLE users ADD COLUMN issuer text COLLATE "C";
ALTER TABLE users ADD COLUMN subject text COLLATE "C";
ALTER TABLE users ADD COLUMN object_id text COLLATE "C";
ALTER TABLE users ADD COLUMN onprem_sid text COLLATE "C";
CREATE UNIQUE INDEX users_by_subject ON users (issuer, subject) WHERE issuer IS NOT NULL;

CREATE TABLE role_claim_values (
    role_id         text COLLATE "C" NOT NULL REFERENCES role_definitions (id) ON DELETE CASCADE,
    claim_value     text COLLATE "C" NOT NULL,
    PRIMARY KEY (role_id, claim_value)
);
CREATE INDEX role_claim_values_by_value ON role_claim_values (claim_value);
