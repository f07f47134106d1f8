package ecosystem

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// MaxNesting bounds how deep brackets, braces, parentheses and templates may nest in an HCL
// file. hclsyntax's parser recurses once per level and a goroutine's stack overflow is fatal,
// not a panic: a file of 100,000 "[" (or nested "${") ended eco validate, and would end the
// daemon reading a pushed commit. No real file comes near this bound.
const MaxNesting = 100

// ParseHCL is hclsyntax.ParseConfig, after refusing a file nested deeper than MaxNesting. Every
// place that parses a file a user or a repository gave goes through it.
func ParseHCL(src []byte, filename string) (*hcl.File, hcl.Diagnostics) {
	if d := CheckNesting(src, filename, hcl.InitialPos); d != nil {
		return nil, hcl.Diagnostics{d}
	}
	return hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
}

// ParseExpression is hclsyntax.ParseExpression with ParseHCL's bound.
func ParseExpression(src []byte, filename string) (hclsyntax.Expression, hcl.Diagnostics) {
	if d := CheckNesting(src, filename, hcl.InitialPos); d != nil {
		return nil, hcl.Diagnostics{d}
	}
	return hclsyntax.ParseExpression(src, filename, hcl.InitialPos)
}

// CheckNesting returns an error at the first opening token nested deeper than MaxNesting, or
// nil. It only lexes (the lexer keeps its own stack on the heap); syntax errors are left to
// the parser.
func CheckNesting(src []byte, filename string, start hcl.Pos) *hcl.Diagnostic {
	toks, _ := hclsyntax.LexConfig(src, filename, start)
	depth := 0
	for _, tok := range toks {
		switch tok.Type {
		case hclsyntax.TokenOBrace, hclsyntax.TokenOBrack, hclsyntax.TokenOParen, hclsyntax.TokenOQuote,
			hclsyntax.TokenOHeredoc, hclsyntax.TokenTemplateInterp, hclsyntax.TokenTemplateControl:
			depth++
			if depth > MaxNesting {
				return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Nesting too deep",
					Detail:  fmt.Sprintf("Brackets, braces, parentheses and templates are nested more than %d deep here; eco refuses such a file rather than exhaust its stack.", MaxNesting),
					Subject: tok.Range.Ptr()}
			}
		case hclsyntax.TokenCBrace, hclsyntax.TokenCBrack, hclsyntax.TokenCParen, hclsyntax.TokenCQuote,
			hclsyntax.TokenCHeredoc, hclsyntax.TokenTemplateSeqEnd:
			if depth > 0 {
				depth--
			}
		}
	}
	return nil
}
