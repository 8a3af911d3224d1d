package shape

import (
	"encoding/xml"
	"slices"
)

// XMLMap is a map shape of a query-protocol service. encoding/xml cannot
// handle Go maps, so XMLMap reads and writes the botocore convention for
// non-flattened maps:
//
//	<Name><entry><key>K</key><value>V</value></entry>...</Name>
//
// Entries are written in key order so output is deterministic. In JSON it
// is a plain object.
type XMLMap[K ~string, V any] map[K]V

type xmlEntry[K ~string, V any] struct {
	Key   K `xml:"key"`
	Value V `xml:"value"`
}

// MarshalXML writes the entries, or nothing for an empty map.
func (m XMLMap[K, V]) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if len(m) == 0 {
		return nil
	}
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	entry := xml.StartElement{Name: xml.Name{Local: "entry"}}
	for _, k := range keys {
		if err := e.EncodeElement(xmlEntry[K, V]{Key: k, Value: m[k]}, entry); err != nil {
			return err
		}
	}
	return e.EncodeToken(start.End())
}

// UnmarshalXML reads <entry> children into the map (creating it if nil).
func (m *XMLMap[K, V]) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	var wrapper struct {
		Entries []xmlEntry[K, V] `xml:"entry"`
	}
	if err := d.DecodeElement(&wrapper, &start); err != nil {
		return err
	}
	if *m == nil {
		*m = make(XMLMap[K, V], len(wrapper.Entries))
	}
	for _, en := range wrapper.Entries {
		(*m)[en.Key] = en.Value
	}
	return nil
}
