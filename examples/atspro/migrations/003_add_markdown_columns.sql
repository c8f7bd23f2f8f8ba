-- Migration: Markdown storage columns

-- migrate:up
ALTER TABLE "userJobs" ADD COLUMN IF NOT EXISTS description_md TEXT;
COMMENT ON COLUMN "userJobs".description_md IS 'Job description as Markdown';

-- migrate:down
ALTER TABLE "userJobs" DROP COLUMN IF EXISTS description_md;
