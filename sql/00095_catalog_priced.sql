-- +goose Up
-- A price of 0 says a SKU is not for sale, for one of two reasons the price alone cannot
-- tell apart: nobody has priced it yet (00023 gave every SKU seeded before prices existed
-- 0, and the demo seed, SEED_CATALOG=1, priced those at its next start), or it was
-- withdrawn from sale. The seed took every 0 for the first, so a SKU withdrawn by setting
-- its price to 0 went back on sale at its demo price at the next start (a probe). priced
-- is false only for a row nobody priced: the seed prices those alone. A row is written
-- priced (the default), whatever its price: so are the rows a release before this one
-- inserts while a rolling upgrade lasts, which it prices as it inserts them.
ALTER TABLE warehouse.stock ADD COLUMN IF NOT EXISTS priced BOOLEAN NOT NULL DEFAULT true;

-- A database whose catalog nobody has priced since 00023 (no seeded start since, no price
-- set by hand) holds only 00023's zeros: they are not priced yet. Anywhere else a seed
-- has run since, and priced every demo SKU, so a 0 was set on purpose and stays.
UPDATE warehouse.stock SET priced = false WHERE NOT EXISTS (SELECT 1 FROM warehouse.stock WHERE price > 0);

-- +goose Down
ALTER TABLE warehouse.stock DROP COLUMN priced;
