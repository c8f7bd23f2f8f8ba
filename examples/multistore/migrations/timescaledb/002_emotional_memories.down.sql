-- Reverts 002_emotional_memories.up.sql
DROP INDEX IF EXISTS idx_emotional_memories_user;
DROP TABLE IF EXISTS emotional_memories;
