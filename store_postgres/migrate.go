package storepg

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one versioned SQL file of the migrations directory: NNNN_name.sql.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in version order.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("storepg: migration file %q is not named NNNN_name.sql", e.Name())
		}
		b, err := migrationFiles.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("storepg: migration %d is missing", i+1)
		}
	}
	return out, nil
}

// Migrate creates the store's tables in schema (DefaultSchema when empty), or upgrades
// them, applying each embedded migration not yet applied in its own step, recorded in the
// schema's migrations table. It is safe to run from several processes at once (they take
// turns under an advisory lock) and does nothing when the schema is up to date. Open calls
// it unless given SkipMigrations.
func Migrate(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	if schema == "" {
		schema = DefaultSchema
	}
	ms, err := migrations()
	if err != nil {
		return err
	}
	qs := quoteIdent(schema)
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('storepg migrate ' || $1, 0))`, schema); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+qs); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+qs+`.migrations (
			version integer PRIMARY KEY,
			name text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return err
		}
		var current int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM `+qs+`.migrations`).Scan(&current); err != nil {
			return err
		}
		for _, m := range ms {
			if m.version <= current {
				continue
			}
			if _, err := tx.Exec(ctx, strings.ReplaceAll(m.sql, "{{schema}}", qs)); err != nil {
				return fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO `+qs+`.migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("storepg: migrating schema %q: %w", schema, err)
	}
	return nil
}

// checkVersion fails with ErrSchema unless every embedded migration has been applied to
// schema.
func checkVersion(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	want := ms[len(ms)-1].version
	var have int
	err = pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM `+quoteIdent(schema)+`.migrations`).Scan(&have)
	if pgCode(err) == pgUndefinedTable || pgCode(err) == "3F000" { // no such table or schema
		return fmt.Errorf("storepg: schema %q has no webhook tables: %w", schema, ErrSchema)
	}
	if err != nil {
		return fmt.Errorf("storepg: reading the version of schema %q: %w", schema, err)
	}
	if have < want {
		return fmt.Errorf("storepg: schema %q is at version %d, this package needs %d: %w", schema, have, want, ErrSchema)
	}
	return nil
}
