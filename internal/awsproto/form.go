package awsproto

import (
	"encoding"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// DecodeForm decodes AWS Query protocol parameters into v, a non-nil pointer
// to a struct. A field's parameter name is the first segment of its xml tag
// (`xml:"Names>member"` is "Names"), or the field name if it has none; a
// field tagged xml:"-", an attribute or XMLName is skipped. Values are laid
// out as botocore and the AWS SDKs send them:
//
//	Name=v                          string, named string (enum), bool, int, uint, float
//	Outer.Inner=v                   nested struct (or pointer to one)
//	Names.member.1=a&Names.member.2=b   list; the member name is the tag's
//	                                second segment, "member" by default;
//	                                flattened lists (Names.1=a) are accepted too;
//	                                Names= is an empty list
//	Tags.member.1.Key=k             list of structs
//	Attributes.entry.1.key=k&Attributes.entry.1.value=v   map with string keys
//
// Fields whose pointer implements encoding.TextUnmarshaler (timestamps) get
// the raw text; []byte is base64. Pointers are allocated only if a parameter
// for them is present, so absent parameters leave nil pointers.
func DecodeForm(values url.Values, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return errors.New("awsproto: DecodeForm needs a non-nil pointer to a struct")
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	f := &form{v: values, keys: keys}
	return f.decodeStruct("", rv.Elem())
}

// FormError is a parameter DecodeForm could not decode.
type FormError struct {
	Param string
	Value string
	Err   error
}

func (e *FormError) Error() string {
	return fmt.Sprintf("invalid value %q for parameter %s: %v", e.Value, e.Param, e.Err)
}

func (e *FormError) Unwrap() error { return e.Err }

// form is the parameters with their names sorted, so that "is any parameter
// under this prefix" is a binary search.
type form struct {
	v    url.Values
	keys []string
}

func (f *form) has(key string) bool { _, ok := f.v[key]; return ok }

func (f *form) get(key string) string { return f.v.Get(key) }

// under returns the sorted names that start with prefix.
func (f *form) under(prefix string) []string {
	i := sort.SearchStrings(f.keys, prefix)
	j := i
	for j < len(f.keys) && strings.HasPrefix(f.keys[j], prefix) {
		j++
	}
	return f.keys[i:j]
}

// present reports whether key or anything below it (key.…) is present.
func (f *form) present(key string) bool {
	return f.has(key) || len(f.under(key+".")) > 0
}

// indices returns the distinct list indices n of names prefix+n[.…], in
// ascending order. strict makes a non-numeric segment an error.
func (f *form) indices(prefix string, strict bool) ([]int, error) {
	seen := map[int]bool{}
	var out []int
	for _, k := range f.under(prefix) {
		seg, _, _ := strings.Cut(k[len(prefix):], ".")
		n, err := strconv.Atoi(seg)
		if err != nil || n < 1 {
			if strict {
				return nil, &FormError{Param: k, Value: f.get(k), Err: errors.New("list index must be a positive integer")}
			}
			continue
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Ints(out)
	return out, nil
}

var textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()

func (f *form) decodeStruct(prefix string, rv reflect.Value) error {
	t := rv.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() || sf.Name == "XMLName" {
			continue
		}
		tag := sf.Tag.Get("xml")
		path, opts, _ := strings.Cut(tag, ",")
		if path == "-" || strings.Contains(opts, "attr") || strings.Contains(opts, "chardata") ||
			strings.Contains(opts, "innerxml") || strings.Contains(opts, "comment") {
			continue
		}
		if sf.Anonymous && path == "" && sf.Type.Kind() == reflect.Struct {
			if err := f.decodeStruct(prefix, rv.Field(i)); err != nil {
				return err
			}
			continue
		}
		name, member, _ := strings.Cut(path, ">")
		if name == "" {
			name = sf.Name
		}
		if err := f.decodeValue(prefix+name, rv.Field(i), member); err != nil {
			return err
		}
	}
	return nil
}

// decodeValue decodes the parameter(s) named key into rv. member is the list
// or map member name from the field's tag, if any.
func (f *form) decodeValue(key string, rv reflect.Value, member string) error {
	if rv.Kind() == reflect.Pointer {
		if !f.present(key) {
			return nil
		}
		if rv.IsNil() {
			rv.Set(reflect.New(rv.Type().Elem()))
		}
		return f.decodeValue(key, rv.Elem(), member)
	}
	if rv.CanAddr() && rv.Addr().Type().Implements(textUnmarshalerType) {
		if !f.has(key) {
			return nil
		}
		s := f.get(key)
		if err := rv.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			return &FormError{Param: key, Value: s, Err: err}
		}
		return nil
	}
	switch rv.Kind() {
	case reflect.Struct:
		return f.decodeStruct(key+".", rv)
	case reflect.Slice:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			return f.decodeScalar(key, rv)
		}
		return f.decodeList(key, rv, member)
	case reflect.Map:
		return f.decodeMap(key, rv, member)
	default:
		return f.decodeScalar(key, rv)
	}
}

func (f *form) decodeScalar(key string, rv reflect.Value) error {
	if !f.has(key) {
		return nil
	}
	s := f.get(key)
	bad := func(err error) error { return &FormError{Param: key, Value: s, Err: err} }
	switch rv.Kind() {
	case reflect.String:
		rv.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return bad(errors.New("not a boolean"))
		}
		rv.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, rv.Type().Bits())
		if err != nil {
			return bad(errors.New("not an integer in range"))
		}
		rv.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(s, 10, rv.Type().Bits())
		if err != nil {
			return bad(errors.New("not a non-negative integer in range"))
		}
		rv.SetUint(n)
	case reflect.Float32, reflect.Float64:
		n, err := strconv.ParseFloat(s, rv.Type().Bits())
		if err != nil {
			return bad(errors.New("not a number"))
		}
		rv.SetFloat(n)
	case reflect.Slice: // []byte
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return bad(errors.New("not base64"))
		}
		rv.SetBytes(b)
	}
	// Other kinds (interfaces, channels, funcs) have no Query form.
	return nil
}

func (f *form) decodeList(key string, rv reflect.Value, member string) error {
	if member == "" {
		member = "member"
	}
	prefix := key + "." + member + "."
	idx, err := f.indices(prefix, true)
	if err != nil {
		return err
	}
	if len(idx) == 0 {
		// Flattened: key.1, key.2 ...
		prefix = key + "."
		idx, _ = f.indices(prefix, false)
	}
	if len(idx) == 0 {
		if f.has(key) && f.get(key) == "" {
			rv.Set(reflect.MakeSlice(rv.Type(), 0, 0)) // Names= is an empty list
		}
		return nil
	}
	s := reflect.MakeSlice(rv.Type(), len(idx), len(idx))
	for i, n := range idx {
		if err := f.decodeValue(prefix+strconv.Itoa(n), s.Index(i), ""); err != nil {
			return err
		}
	}
	rv.Set(s)
	return nil
}

func (f *form) decodeMap(key string, rv reflect.Value, member string) error {
	t := rv.Type()
	if t.Key().Kind() != reflect.String {
		return nil
	}
	if member == "" {
		member = "entry"
	}
	prefix := key + "." + member + "."
	idx, err := f.indices(prefix, true)
	if err != nil {
		return err
	}
	if len(idx) == 0 {
		prefix = key + "."
		idx, _ = f.indices(prefix, false)
	}
	if len(idx) == 0 {
		if f.has(key) && f.get(key) == "" {
			rv.Set(reflect.MakeMap(t))
		}
		return nil
	}
	m := reflect.MakeMapWithSize(t, len(idx))
	for _, n := range idx {
		entry := prefix + strconv.Itoa(n) + "."
		if !f.has(entry + "key") {
			return &FormError{Param: entry + "key", Err: errors.New("map entry has no key")}
		}
		k := reflect.New(t.Key()).Elem()
		k.SetString(f.get(entry + "key"))
		v := reflect.New(t.Elem()).Elem()
		if err := f.decodeValue(entry+"value", v, ""); err != nil {
			return err
		}
		m.SetMapIndex(k, v)
	}
	rv.Set(m)
	return nil
}
