// Package config reads keepalived.conf: a lexer and parser that keep every
// token's file, line and column, and a validated, typed model of the
// configuration that the rest of govs runs from.
package config
