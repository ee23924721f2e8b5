package policy

import (
	"encoding/json"
	"maps"
	"mime"
	"slices"

	"github.com/getkin/kin-openapi/openapi3"
)

// mockContent is what mock-response answers for an operation that has an
// OpenAPI definition, as APIM does: the response for status (or the
// default response), in contentType or else the first media type, with
// its example when there is one, else a sample generated from its schema;
// ok is false when the definition has neither.
func mockContent(op *openapi3.Operation, status int, contentType string) (ct string, body []byte, ok bool) {
	if op == nil || op.Responses == nil {
		return "", nil, false
	}
	rr := op.Responses.Status(status)
	if rr == nil || rr.Value == nil {
		rr = op.Responses.Default()
	}
	if rr == nil || rr.Value == nil || len(rr.Value.Content) == 0 {
		return "", nil, false
	}
	content := rr.Value.Content
	var media *openapi3.MediaType
	if contentType != "" {
		ct, media = contentType, content.Get(contentType)
	} else {
		ct = slices.Sorted(maps.Keys(content))[0]
		media = content[ct]
	}
	if media == nil {
		return "", nil, false
	}
	var v any
	switch {
	case media.Example != nil:
		v = media.Example
	case len(media.Examples) > 0:
		for _, name := range slices.Sorted(maps.Keys(media.Examples)) {
			if ex := media.Examples[name]; ex != nil && ex.Value != nil && ex.Value.Value != nil {
				v = ex.Value.Value
				break
			}
		}
	}
	if v == nil && media.Schema != nil && media.Schema.Value != nil {
		v = sampleOf(media.Schema.Value, 0)
	}
	if v == nil {
		return ct, nil, true
	}
	if mt, _, _ := mime.ParseMediaType(ct); !isJSONType(mt) {
		if s, isString := v.(string); isString {
			return ct, []byte(s), true
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ct, nil, true
	}
	return ct, b, true
}

// sampleOf builds a value that fits schema s: its example, enum or default
// when it has one, else one of its type (objects with every property,
// arrays with one item), nested at most eight levels.
func sampleOf(s *openapi3.Schema, depth int) any {
	switch {
	case s == nil || depth > 8:
		return nil
	case s.Example != nil:
		return s.Example
	case len(s.Enum) > 0:
		return s.Enum[0]
	case s.Default != nil:
		return s.Default
	case len(s.AllOf) > 0:
		out := map[string]any{}
		for _, part := range s.AllOf {
			if m, ok := sampleOf(part.Value, depth+1).(map[string]any); ok {
				maps.Copy(out, m)
			}
		}
		return out
	case len(s.OneOf) > 0:
		return sampleOf(s.OneOf[0].Value, depth+1)
	case len(s.AnyOf) > 0:
		return sampleOf(s.AnyOf[0].Value, depth+1)
	}
	t := s.Type
	switch {
	case t.Is("object") || t == nil && len(s.Properties) > 0:
		out := map[string]any{}
		for name, p := range s.Properties {
			if p != nil {
				out[name] = sampleOf(p.Value, depth+1)
			}
		}
		return out
	case t.Is("array"):
		if s.Items == nil {
			return []any{}
		}
		return []any{sampleOf(s.Items.Value, depth+1)}
	case t.Is("integer"), t.Is("number"):
		return 0
	case t.Is("boolean"):
		return true
	case t.Is("string"):
		switch s.Format {
		case "date-time":
			return "2000-01-01T00:00:00Z"
		case "date":
			return "2000-01-01"
		case "uuid":
			return "00000000-0000-0000-0000-000000000000"
		}
		return "string"
	}
	return nil
}
