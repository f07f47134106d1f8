// Command gen writes docs/reference.md and docs/ecosystem.schema.json from the schema package.
// go generate ./schema runs it with the working directory schema/.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/eco-pm/eco/schema"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	dir := fs.String("dir", filepath.Join("..", "docs"), "folder to write the docs to")
	if err := fs.Parse(args); err != nil {
		return err
	}
	js, err := schema.JSONSchema()
	if err != nil {
		return fmt.Errorf("render json schema: %w", err)
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(*dir, "reference.md"), schema.Markdown()); err != nil {
		return err
	}
	return writeFile(filepath.Join(*dir, "ecosystem.schema.json"), js)
}

// writeFile replaces path with data all at once: readers see the old file or the new one, never
// half of it.
func writeFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // fails harmlessly once renamed
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
