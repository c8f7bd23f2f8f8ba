-- Migration: User preferences
-- Purpose: Store user preferences for dark mode
-- Related: Feature request #123

CREATE TABLE IF NOT EXISTS user_preferences (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  user_name VARCHAR(255) NOT NULL UNIQUE,
  dark_mode BOOLEAN NOT NULL DEFAULT false,
  created_at TIMESTAMP DEFAULT NOW()
);
