-- Migration: Add SEO audit tracking
-- Created: 2025-10-20
-- Purpose: Health scores and the latest audit per business

BEGIN;

CREATE SCHEMA IF NOT EXISTS tenants;
CREATE SCHEMA IF NOT EXISTS health_monitoring;

CREATE TABLE IF NOT EXISTS tenants.business (
  id SERIAL PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  created_at TIMESTAMP DEFAULT NOW()
);

CREATE TABLE IF NOT EXISTS health_monitoring.scores (
  id SERIAL PRIMARY KEY,
  business_id INTEGER NOT NULL REFERENCES tenants.business(id),
  seo_score INTEGER CHECK (seo_score BETWEEN 0 AND 100),
  audited_at TIMESTAMP DEFAULT NOW()
);

CREATE OR REPLACE VIEW health_monitoring.latest_seo_audits AS
SELECT DISTINCT ON (business_id) business_id, seo_score, audited_at
  FROM health_monitoring.scores
 ORDER BY business_id, audited_at DESC;

COMMIT;
