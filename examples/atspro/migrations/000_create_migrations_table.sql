-- Migration: Migration tracking table
-- (lumi creates it before the first migration; kept so that old databases
-- and new ones end up alike)

CREATE TABLE IF NOT EXISTS migrations (
  id                VARCHAR(255) PRIMARY KEY,
  filename          VARCHAR(255) NOT NULL,
  checksum          VARCHAR(64) NOT NULL,
  executed_at       TIMESTAMP NOT NULL DEFAULT now(),
  execution_time_ms INTEGER,
  success           BOOLEAN NOT NULL DEFAULT true,
  error_message     TEXT,
  rolled_back       BOOLEAN NOT NULL DEFAULT false,
  rolled_back_at    TIMESTAMP
);
