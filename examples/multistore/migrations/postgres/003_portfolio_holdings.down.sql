-- Reverts 003_portfolio_holdings.up.sql
DROP INDEX IF EXISTS idx_portfolio_holdings_user;
DROP TABLE IF EXISTS portfolio_holdings;
