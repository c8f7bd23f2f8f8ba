-- Migration: 001_add_message_threading_and_search.sql
-- Created: 2025-01-12T09:00:00Z
-- Description: Replies and full-text search on messages

ALTER TABLE messages ADD COLUMN parent_id UUID REFERENCES messages(id) ON DELETE CASCADE;
ALTER TABLE messages ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('simple', body)) STORED;
CREATE INDEX idx_messages_search ON messages USING gin (search);
