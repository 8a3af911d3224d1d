package awsproto_test

import (
	"errors"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/model/shape"
)

type scheme string

type tag struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value,omitempty"`
}

type matcher struct {
	HttpCode string `xml:"HttpCode,omitempty"`
}

type formInput struct {
	Name       string                    `xml:"Name,omitempty"`
	Scheme     scheme                    `xml:"Scheme,omitempty"`
	SchemePtr  *scheme                   `xml:"SchemePtr,omitempty"`
	Enabled    bool                      `xml:"Enabled"`
	EnabledPtr *bool                     `xml:"EnabledPtr,omitempty"`
	Port       int32                     `xml:"Port,omitempty"`
	PortPtr    *int64                    `xml:"PortPtr,omitempty"`
	Weight     uint16                    `xml:"Weight,omitempty"`
	Ratio      float64                   `xml:"Ratio,omitempty"`
	Absent     *string                   `xml:"Absent,omitempty"`
	Names      []string                  `xml:"Names>member,omitempty"`
	Tags       []tag                     `xml:"Tags>member,omitempty"`
	TagPtrs    []*tag                    `xml:"TagPtrs>member,omitempty"`
	Empty      []string                  `xml:"Empty>member,omitempty"`
	Flat       []string                  `xml:"Flat,omitempty"`
	Matcher    *matcher                  `xml:"Matcher,omitempty"`
	Inline     matcher                   `xml:"Inline"`
	Attributes map[string]string         `xml:"Attributes,omitempty"`
	XMap       shape.XMLMap[string, tag] `xml:"XMap,omitempty"`
	When       shape.Timestamp           `xml:"When,omitempty"`
	WhenPtr    *shape.Timestamp          `xml:"WhenPtr,omitempty"`
	Blob       []byte                    `xml:"Blob,omitempty"`
	NoTag      string
	Skipped    string `xml:"-"`
	//lint:ignore U1000 the decoder must skip an unexported field
	unexported string
	Lists      [][]string `xml:"Lists>member,omitempty"`
}

func TestDecodeForm(t *testing.T) {
	q, err := url.ParseQuery("Action=CreateThing&Version=2015-12-01" +
		"&Name=web&Scheme=internet-facing&SchemePtr=internal&Enabled=true&EnabledPtr=false" +
		"&Port=8080&PortPtr=-5&Weight=7&Ratio=0.25" +
		"&Names.member.2=b&Names.member.1=a&Names.member.10=j" +
		"&Tags.member.1.Key=env&Tags.member.1.Value=prod&Tags.member.2.Key=team" +
		"&TagPtrs.member.1.Key=k" +
		"&Empty=" +
		"&Flat.1=x&Flat.2=y" +
		"&Matcher.HttpCode=200-299&Inline.HttpCode=404" +
		"&Attributes.entry.1.key=idle_timeout.timeout_seconds&Attributes.entry.1.value=60" +
		"&Attributes.entry.2.key=deletion_protection.enabled&Attributes.entry.2.value=false" +
		"&XMap.entry.1.key=a&XMap.entry.1.value.Key=ka" +
		"&When=2024-05-06T07:08:09.123Z&WhenPtr=2024-05-06T07:08:09Z" +
		"&Blob=aGVsbG8=&NoTag=plain&Skipped=no" +
		"&Lists.member.1.member.1=x&Lists.member.1.member.2=y&Lists.member.2.member.1=z")
	if err != nil {
		t.Fatal(err)
	}
	var got formInput
	if err := awsproto.DecodeForm(q, &got); err != nil {
		t.Fatal(err)
	}
	internal, no := scheme("internal"), false
	port := int64(-5)
	when := shape.NewTimestamp(time.Date(2024, 5, 6, 7, 8, 9, 123e6, time.UTC))
	whenPtr := shape.NewTimestamp(time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC))
	want := formInput{
		Name: "web", Scheme: "internet-facing", SchemePtr: &internal, Enabled: true, EnabledPtr: &no,
		Port: 8080, PortPtr: &port, Weight: 7, Ratio: 0.25,
		Names:      []string{"a", "b", "j"},
		Tags:       []tag{{Key: "env", Value: "prod"}, {Key: "team"}},
		TagPtrs:    []*tag{{Key: "k"}},
		Empty:      []string{},
		Flat:       []string{"x", "y"},
		Matcher:    &matcher{HttpCode: "200-299"},
		Inline:     matcher{HttpCode: "404"},
		Attributes: map[string]string{"idle_timeout.timeout_seconds": "60", "deletion_protection.enabled": "false"},
		XMap:       shape.XMLMap[string, tag]{"a": {Key: "ka"}},
		When:       when, WhenPtr: &whenPtr,
		Blob:  []byte("hello"),
		NoTag: "plain",
		Lists: [][]string{{"x", "y"}, {"z"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if got.Absent != nil {
		t.Error("absent pointer was allocated")
	}
}

func TestDecodeFormErrors(t *testing.T) {
	for _, tc := range []struct {
		name, query, param string
	}{
		{"bad bool", "Enabled=yes please", "Enabled"},
		{"bad int", "Port=eighty", "Port"},
		{"int overflow", "Port=9999999999", "Port"},
		{"negative uint", "Weight=-1", "Weight"},
		{"bad float", "Ratio=half", "Ratio"},
		{"bad list index", "Names.member.x=a", "Names.member.x"},
		{"zero list index", "Names.member.0=a", "Names.member.0"},
		{"map entry without key", "Attributes.entry.1.value=v", "Attributes.entry.1.key"},
		{"bad timestamp", "When=yesterday", "When"},
		{"bad base64", "Blob=!!!", "Blob"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			var v formInput
			err = awsproto.DecodeForm(q, &v)
			var fe *awsproto.FormError
			if !errors.As(err, &fe) {
				t.Fatalf("want *FormError, got %v", err)
			}
			if fe.Param != tc.param {
				t.Errorf("param = %q, want %q", fe.Param, tc.param)
			}
		})
	}
}

func TestDecodeFormNeedsStructPointer(t *testing.T) {
	var s formInput
	for _, v := range []any{nil, s, (*formInput)(nil), new(int)} {
		if err := awsproto.DecodeForm(url.Values{}, v); err == nil {
			t.Errorf("DecodeForm(%T) succeeded", v)
		}
	}
}

func TestDecodeFormEmpty(t *testing.T) {
	var v formInput
	if err := awsproto.DecodeForm(url.Values{}, &v); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(v, formInput{}) {
		t.Errorf("got %+v", v)
	}
}
