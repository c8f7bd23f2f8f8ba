-- Migration: Create error logs table
-- Created: 2025-10-17
-- Description: Central error log for the platform

BEGIN;

CREATE SCHEMA IF NOT EXISTS system;

CREATE TABLE IF NOT EXISTS system.error_logs (
  id SERIAL PRIMARY KEY,
  message VARCHAR(2000) NOT NULL,
  context JSONB,
  created_at TIMESTAMP DEFAULT NOW()
);

CREATE INDEX idx_error_logs_created ON system.error_logs(created_at);

COMMIT;
