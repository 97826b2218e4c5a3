-- The catalog service's tables, in schema catalog. Ids compare byte by byte
-- (COLLATE "C"), as SQLite compares text, so that pages follow the same
-- order on both stores whatever the database's locale.
CREATE TABLE products (
	id          text COLLATE "C" PRIMARY KEY,
	name        text NOT NULL,
	description text NOT NULL,
	price_cents bigint NOT NULL CHECK (price_cents >= 0),
	stock       bigint NOT NULL CHECK (stock >= 0), -- never negative, whatever a bug tries
	created_at  timestamptz NOT NULL,
	updated_at  timestamptz NOT NULL
);

CREATE TABLE reservations (
	order_id    text COLLATE "C" PRIMARY KEY,
	created_at  timestamptz NOT NULL,
	released_at timestamptz -- NULL while the stock is held
);

CREATE TABLE reservation_items (
	order_id    text COLLATE "C" NOT NULL REFERENCES reservations (order_id),
	product_id  text COLLATE "C" NOT NULL REFERENCES products (id),
	quantity    bigint NOT NULL CHECK (quantity > 0),
	price_cents bigint NOT NULL,
	PRIMARY KEY (order_id, product_id)
);
