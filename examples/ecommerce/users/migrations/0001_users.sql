-- The users service's tables, in schema users. Times are timestamptz at
-- millisecond precision (the store rounds them), as the SQLite store keeps
-- Unix milliseconds.
CREATE TABLE users (
	id            text PRIMARY KEY,
	email         text NOT NULL UNIQUE,
	name          text NOT NULL,
	role          text NOT NULL CHECK (role IN ('user', 'admin')),
	password_hash text NOT NULL,
	created_at    timestamptz NOT NULL
);

CREATE TABLE login_sources (
	user_id         text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	source          text NOT NULL, -- ClientAddr
	last_success_at timestamptz NOT NULL,
	PRIMARY KEY (user_id, source)
);
