package main

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// typeDoc is the doc comment of a generated type.
func typeDoc(goName, shapeName, doc string) string {
	if s := firstSentence(doc); s != "" {
		return comment(goName + ": " + s)
	}
	return comment(goName + " is generated from the AWS model shape " + shapeName + ".")
}

func (g *generator) writeMetadata() {
	md := g.m.Metadata
	signing := md.SigningName
	if signing == "" {
		signing = md.EndpointPrefix // SigV4 signs with the endpoint prefix when the model names no signing name
	}
	consts := []struct{ name, value, doc string }{
		{"ServiceID", md.ServiceID, "the model's serviceId"},
		{"APIVersion", md.APIVersion, "the API version, sent as Version in query requests"},
		{"Protocol", md.Protocol, "the wire protocol: json or query"},
		{"JSONVersion", md.JSONVersion, "the awsJson version of the Content-Type"},
		{"TargetPrefix", md.TargetPrefix, "what precedes \".Operation\" in the X-Amz-Target header"},
		{"SigningName", signing, "the SigV4 service name (signingName, else endpointPrefix)"},
		{"EndpointPrefix", md.EndpointPrefix, "the endpoint host prefix"},
		{"XMLNamespace", md.XMLNamespace, "the namespace of XML responses"},
	}
	g.p("// Service metadata from the model.\nconst (\n")
	for _, c := range consts {
		if c.value != "" {
			g.p("\t// %s is %s.\n\t%s = %q\n", c.name, c.doc, c.name, c.value)
		}
	}
	g.p("\t// ValidationErrorCode is the error code the service answers a request\n")
	g.p("\t// that breaks the model's constraints with (see Validate).\n")
	g.p("\tValidationErrorCode = %q\n", g.opt.ValidationCode)
	g.p(")\n\n")
}

func (g *generator) writeOperations() {
	names := make([]string, 0, len(g.m.Operations))
	for n := range g.m.Operations {
		names = append(names, n)
	}
	sort.Strings(names)
	g.p("// Operations describes every operation of the model, by name.\n")
	g.p("var Operations = map[string]shape.Operation{\n")
	for _, n := range names {
		op := g.m.Operations[n]
		var f []string
		f = append(f, "Name: "+strconv.Quote(op.Name))
		if op.Input != nil {
			f = append(f, "Input: "+strconv.Quote(op.Input.Shape))
		}
		if op.Output != nil {
			f = append(f, "Output: "+strconv.Quote(op.Output.Shape))
			if op.Output.ResultWrapper != "" {
				f = append(f, "ResultWrapper: "+strconv.Quote(op.Output.ResultWrapper))
			}
		}
		var errs []string
		for _, e := range op.Errors {
			q := strconv.Quote(e.Shape)
			if !contains(errs, q) {
				errs = append(errs, q)
			}
		}
		if len(errs) > 0 {
			f = append(f, "Errors: []string{"+strings.Join(errs, ", ")+"}")
		}
		if pg, ok := g.pages[n]; ok {
			for _, kv := range []struct {
				k string
				v stringOrList
			}{{"InputToken", pg.InputToken}, {"OutputToken", pg.OutputToken}, {"LimitKey", pg.LimitKey}} {
				if len(kv.v) > 0 {
					f = append(f, kv.k+": "+strconv.Quote(kv.v.String()))
				}
			}
		}
		g.p("\t%q: {%s},\n", n, strings.Join(f, ", "))
	}
	g.p("}\n\n")
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func (g *generator) writeErrors() {
	var names []string
	for _, n := range g.sortedShapes() {
		if g.m.Shapes[n].Exception {
			names = append(names, n)
		}
	}
	type info struct {
		name, code string
		status     int
		fault      bool
	}
	infos := make([]info, 0, len(names))
	for _, n := range names {
		sh := g.m.Shapes[n]
		in := info{name: n, code: n, fault: sh.Fault}
		if sh.Error != nil {
			if sh.Error.Code != "" {
				in.code = sh.Error.Code
			}
			in.status = sh.Error.HTTPStatusCode
			in.fault = in.fault || !sh.Error.SenderFault
		}
		if in.status == 0 {
			in.status = 400
			if in.fault {
				in.status = 500
			}
		}
		infos = append(infos, in)
	}
	if len(infos) == 0 {
		g.p("// Errors describes every exception shape of the model, by shape name.\nvar Errors = map[string]shape.ErrorInfo{}\n\n")
		return
	}
	g.p("// Wire error codes of the model's exception shapes.\nconst (\n")
	for _, in := range infos {
		g.p("\t%s = %q\n", g.pkgIDs.claim("ErrCode"+exportedIdent(in.name)), in.code)
	}
	g.p(")\n\n// Errors describes every exception shape of the model, by shape name.\n")
	g.p("var Errors = map[string]shape.ErrorInfo{\n")
	for _, in := range infos {
		g.p("\t%q: {Name: %q, Code: %q, HTTPStatusCode: %d", in.name, in.name, in.code, in.status)
		if in.fault {
			g.p(", Fault: true")
		}
		g.p("},\n")
	}
	g.p("}\n\n")
}

func (g *generator) writeEnum(name string, sh *shapeDef) {
	typ := g.names[name]
	g.p("%stype %s string\n\n", typeDoc(typ, name, sh.Documentation), typ)
	var values, consts []string
	for i, v := range sh.Enum {
		if contains(values, v) {
			continue
		}
		suffix := enumValueIdent(v)
		switch {
		case v == "":
			suffix = "Empty"
		case suffix == "":
			suffix = "Value" + strconv.Itoa(i)
		}
		values = append(values, v)
		consts = append(consts, g.pkgIDs.claim(typ+suffix))
	}
	g.p("// Values of %s.\nconst (\n", typ)
	for i, c := range consts {
		g.p("\t%s %s = %q\n", c, typ, values[i])
	}
	g.p(")\n\n")
	g.p("// Values returns the values the model allows for %s, in model order.\n", typ)
	g.p("func (%s) Values() []%s {\n\treturn []%s{\n", typ, typ, typ)
	for _, c := range consts {
		g.p("\t\t%s,\n", c)
	}
	g.p("\t}\n}\n\n")
	g.p("// IsKnown reports whether v is one of the values the model allows.\n")
	g.p("func (v %s) IsKnown() bool {\n\tswitch v {\n\tcase %s:\n\t\treturn true\n\t}\n\treturn false\n}\n\n",
		typ, strings.Join(consts, ", "))
}

func (g *generator) writeStruct(name string, sh *shapeDef) {
	typ := g.names[name]
	fields := g.fields[name]
	g.p("%stype %s struct", typeDoc(typ, name, sh.Documentation), typ)
	if len(sh.Members) == 0 {
		g.p("{}\n\n")
	} else {
		g.p(" {\n")
		for i, mem := range sh.Members {
			g.p("\t%s %s %s\n", fields[i], g.goType(&mem.Ref, true), g.tags(mem))
		}
		g.p("}\n\n")
	}

	g.limits = g.inInput[name]
	if g.inputs[name] {
		g.p("// ValidationErrorCode is the error code a %s that fails Validate is answered with.\n", typ)
		g.p("func (*%s) ValidationErrorCode() string { return ValidationErrorCode }\n\n", typ)
	}
	if g.limits {
		g.p("// Validate reports the first member of s, in model order, that is absent\n")
		g.p("// though required, or breaks the model's constraints (enum values, length,\n// value range, pattern).\n")
	} else {
		g.p("// Validate reports the first absent required member or unknown enum value\n// of s, in model order.\n")
	}
	if !g.needs[name] {
		g.p("func (s *%s) Validate() error { return nil }\n\n", typ)
		return
	}
	var w strings.Builder
	for i, mem := range sh.Members {
		path := strconv.Quote(wireName(mem))
		if cond := g.requiredCheck(sh, mem, fields[i]); cond != "" {
			fmt.Fprintf(&w, "if %s {\nreturn shape.Required(%s)\n}\n", cond, path)
		}
		g.checks(&w, "s."+fields[i], path, &mem.Ref, true, 0)
	}
	g.p("func (s *%s) Validate() error {\n\tif s == nil {\n\t\treturn nil\n\t}\n%s\treturn nil\n}\n\n", typ, w.String())
}

// checks writes the statements that validate expr, a value of ref's shape,
// reporting problems at path (a Go string expression). member says whether
// expr is a structure member (where "" means an absent enum and structures
// are pointers).
func (g *generator) checks(w *strings.Builder, expr, path string, ref *shapeRef, member bool, depth int) {
	sh := g.m.Shapes[ref.Shape]
	k := g.kindOf(ref, member)
	g.constraintChecks(w, expr, path, ref, k, member)
	switch k {
	case kEnum:
		cond := "!" + expr + ".IsKnown()"
		if member {
			cond = expr + ` != "" && ` + cond
		}
		fmt.Fprintf(w, "if %s {\nreturn shape.InvalidEnum(%s, %s, %s.Values())\n}\n", cond, path, expr, expr)
	case kStruct:
		if g.needs[ref.Shape] {
			fmt.Fprintf(w, "if err := %s.Validate(); err != nil {\nreturn shape.Prefix(err, %s)\n}\n", expr, path)
		}
	case kList:
		if !g.refNeeds(sh.Member) {
			return
		}
		i := fmt.Sprintf("i%d", depth)
		fmt.Fprintf(w, "for %s := range %s {\n", i, expr)
		g.checks(w, expr+"["+i+"]", "shape.Index("+path+", "+i+")", sh.Member, false, depth+1)
		w.WriteString("}\n")
	case kMap:
		keyNeeds, valNeeds := g.refNeeds(sh.Key), g.refNeeds(sh.Value)
		if !keyNeeds && !valNeeds {
			return
		}
		g.imports["maps"], g.imports["slices"] = true, true
		k, v := fmt.Sprintf("k%d", depth), fmt.Sprintf("v%d", depth)
		fmt.Fprintf(w, "for _, %s := range slices.Sorted(maps.Keys(%s)) {\n", k, expr)
		kpath := "shape.Key(" + path + ", " + k + ")"
		if keyNeeds {
			g.checks(w, k, kpath, sh.Key, false, depth+1)
		}
		if valNeeds {
			fmt.Fprintf(w, "%s := %s[%s]\n", v, expr, k)
			g.checks(w, v, kpath, sh.Value, false, depth+1)
		}
		w.WriteString("}\n")
	}
}

// tags renders a member's struct tag: json always, xml for query services.
func (g *generator) tags(mem member) string {
	name := wireName(mem)
	k := g.kindOf(&mem.Ref, true)
	j := name + ",omitzero"
	if k == kScalar {
		j = name // AWS always sends unboxed scalars, zero included
	}
	tag := `json:"` + j + `"`
	if g.query {
		tag += ` xml:"` + g.xmlTag(mem, k) + `,omitempty"`
	}
	return "`" + tag + "`"
}

// xmlTag is the botocore query/XML name of a member: the member's
// locationName or name; a list adds ">member" (or its member's
// locationName) unless it is flattened, when the items repeat under the
// list member's locationName, if any.
func (g *generator) xmlTag(mem member, k kind) string {
	name := wireName(mem)
	if k != kList {
		return name
	}
	sh := g.m.Shapes[mem.Ref.Shape]
	if sh.Flattened || mem.Ref.Flattened {
		if sh.Member.LocationName != "" {
			return sh.Member.LocationName
		}
		return name
	}
	item := "member"
	if sh.Member.LocationName != "" {
		item = sh.Member.LocationName
	}
	return name + ">" + item
}

// writeEnvelopes writes, for a query service, the XML document each
// operation answers with: <OpResponse><OpResult>...</OpResult>
// <ResponseMetadata>...</ResponseMetadata></OpResponse>.
func (g *generator) writeEnvelopes() {
	names := make([]string, 0, len(g.m.Operations))
	for n := range g.m.Operations {
		names = append(names, n)
	}
	sort.Strings(names)
	g.imports["encoding/xml"] = true
	xmlns := `""`
	if g.m.Metadata.XMLNamespace != "" {
		xmlns = "XMLNamespace"
	}
	for _, n := range names {
		op := g.m.Operations[n]
		typ := g.pkgIDs.claim(exportedIdent(n) + "ResponseEnvelope")
		ctor := g.pkgIDs.claim("New" + typ)
		g.p("// %s is the XML document a %s call answers with.\n", typ, n)
		g.p("type %s struct {\n\tXMLName xml.Name `xml:%q`\n\tXmlns string `xml:\"xmlns,attr,omitempty\"`\n", typ, op.Name+"Response")
		var res string
		if op.Output != nil {
			wrapper := op.Output.ResultWrapper
			if wrapper == "" {
				wrapper = op.Name + "Result"
			}
			res = g.names[op.Output.Shape]
			g.p("\tResult *%s `xml:%q`\n", res, wrapper)
		}
		g.p("\tResponseMetadata shape.ResponseMetadata `xml:\"ResponseMetadata\"`\n}\n\n")
		g.p("// %s wraps a result for the wire.\n", ctor)
		if res != "" {
			g.p("func %s(result *%s, requestID string) *%s {\n", ctor, res, typ)
			g.p("\treturn &%s{Xmlns: %s, Result: result, ResponseMetadata: shape.ResponseMetadata{RequestID: requestID}}\n}\n\n", typ, xmlns)
		} else {
			g.p("func %s(requestID string) *%s {\n", ctor, typ)
			g.p("\treturn &%s{Xmlns: %s, ResponseMetadata: shape.ResponseMetadata{RequestID: requestID}}\n}\n\n", typ, xmlns)
		}
	}
}
