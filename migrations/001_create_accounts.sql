-- Migration: create accounts
-- Accounts own everything else; e-mail addresses are unique case-insensitively.

CREATE EXTENSION IF NOT EXISTS citext;

CREATE TABLE accounts (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email       citext NOT NULL UNIQUE,
  name        text NOT NULL CHECK (length(name) > 0),
  created_at  timestamptz NOT NULL DEFAULT now()
);
