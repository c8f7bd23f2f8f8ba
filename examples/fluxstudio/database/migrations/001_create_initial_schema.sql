-- Migration: 001_create_initial_schema.sql
-- Created: 2025-01-12T10:00:00Z
-- Description: Users (created by hand on production before this runner existed)

CREATE TABLE users (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  email VARCHAR(255) NOT NULL UNIQUE,
  created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);
