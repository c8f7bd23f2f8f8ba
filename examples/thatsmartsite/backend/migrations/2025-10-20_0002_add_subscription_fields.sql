-- Migration: Add subscription fields
-- Created: 2025-10-20

ALTER TABLE tenants.business
  ADD COLUMN IF NOT EXISTS plan VARCHAR(32) DEFAULT 'free';

ALTER TABLE tenants.business
  ADD CONSTRAINT check_plan CHECK (plan IN ('free', 'pro', 'agency'));
