-- The orders service's tables, in schema orders: the same tables as the
-- SQLite store's, with times as timestamptz at millisecond precision (the
-- store rounds them) and ids compared byte by byte (COLLATE "C"), as SQLite
-- compares text, so that pages follow the same order on both stores.
CREATE TABLE orders (
	id          text COLLATE "C" PRIMARY KEY,
	user_id     text COLLATE "C" NOT NULL,
	status      text NOT NULL CHECK (status IN ('confirmed', 'cancelled')),
	total_cents bigint NOT NULL CHECK (total_cents >= 0),
	created_at  timestamptz NOT NULL,
	updated_at  timestamptz NOT NULL
);
CREATE INDEX orders_by_user ON orders (user_id, created_at DESC, id DESC);

CREATE TABLE order_items (
	order_id    text COLLATE "C" NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
	line        integer NOT NULL,
	product_id  text NOT NULL,
	quantity    bigint NOT NULL CHECK (quantity > 0),
	price_cents bigint NOT NULL CHECK (price_cents >= 0),
	PRIMARY KEY (order_id, line)
);

-- One row per (user, key). state in_flight: held by attempt until
-- lease_until; done: answer is the key's final answer (an orders.Answer as
-- JSON). order_id is chosen when the key is first claimed and kept by
-- takeovers.
CREATE TABLE idempotency_keys (
	user_id      text COLLATE "C" NOT NULL,
	key          text COLLATE "C" NOT NULL,
	request_hash text NOT NULL,
	order_id     text COLLATE "C" NOT NULL UNIQUE,
	state        text NOT NULL CHECK (state IN ('in_flight', 'done')),
	attempt      bigint NOT NULL,
	lease_until  timestamptz NOT NULL,
	answer       bytea,
	created_at   timestamptz NOT NULL,
	updated_at   timestamptz NOT NULL,
	PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_in_flight ON idempotency_keys (lease_until) WHERE state = 'in_flight';

-- Releases of stock to send to the catalog: written in the same transaction
-- that gives up the order id, deleted once the catalog confirms.
CREATE TABLE pending_releases (
	order_id   text COLLATE "C" PRIMARY KEY,
	attempts   integer NOT NULL DEFAULT 0,
	next_at    timestamptz NOT NULL,
	created_at timestamptz NOT NULL
);
CREATE INDEX pending_releases_due ON pending_releases (next_at);
