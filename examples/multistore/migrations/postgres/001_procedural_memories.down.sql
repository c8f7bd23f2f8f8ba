-- Reverts 001_procedural_memories.up.sql
DROP INDEX IF EXISTS idx_procedural_memories_user;
DROP TABLE IF EXISTS procedural_memories;
