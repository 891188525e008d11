-- Prices in cents; existing items cost nothing.
ALTER TABLE items ADD COLUMN price_cents INT NOT NULL DEFAULT 0;
CREATE INDEX items_name ON items (name);
