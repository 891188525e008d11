-- Revert lists

BEGIN;

DROP TABLE flipr.lists;

COMMIT;
