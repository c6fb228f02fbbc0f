package webhook

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// payloadTime is the timestamp of the test envelopes: not UTC, with nanoseconds.
var payloadTime = time.Date(2026, 3, 4, 7, 8, 9, 123456789, time.FixedZone("CET", 3600))

// payloadOrder is a typical order payload of about 1 KiB.
const payloadOrder = `{"id":"12345","number":"#1042","status":"paid","currency":"EUR",` +
	`"total":"149.90","subtotal":"139.90","tax":"23.98","shipping":"10.00","created_at":"2026-03-04T06:08:09Z",` +
	`"customer":{"id":"cus_881","email":"ann.smith@example.com","first_name":"Ann","last_name":"Smith","accepts_marketing":true},` +
	`"billing_address":{"name":"Ann Smith","street":"Hauptstraße 5","city":"Berlin","zip":"10115","country":"DE","phone":null},` +
	`"shipping_address":{"name":"Ann Smith","street":"Hauptstraße 5","city":"Berlin","zip":"10115","country":"DE","phone":null},` +
	`"line_items":[{"id":1,"sku":"TSHIRT-RED-M","title":"T-shirt \"Red\" <M>","quantity":2,"price":"29.95","taxable":true},` +
	`{"id":2,"sku":"MUG-01","title":"Mug & saucer","quantity":1,"price":"19.95","taxable":true},` +
	`{"id":3,"sku":"POSTER-A2","title":"Poster A2","quantity":3,"price":"20.00","taxable":false}],` +
	`"discounts":[{"code":"SPRING10","amount":"10.00"}],"tags":["vip","repeat"],"note":"Please leave at the door.",` +
	`"payment":{"method":"card","status":"completed","transaction_id":"txn_9f8e7d6c5b4a"},` +
	`"fulfillment_status":"not_fulfilled","source":"web","weight_grams":1850}`

func TestEncodeJSON(t *testing.T) {
	tests := []struct {
		name string
		env  envelope
	}{
		{"typical order", envelope{ID: "evt_1", Type: "order.created", Timestamp: payloadTime, Data: json.RawMessage(payloadOrder)}},
		{"empty data is null", envelope{ID: "evt_2", Type: "order.created", Timestamp: payloadTime}},
		{"data with insignificant whitespace", envelope{ID: "evt_3", Type: "order.updated", Timestamp: payloadTime,
			Data: json.RawMessage(" {\n  \"id\" : 1 ,\n  \"a\": [ 1, 2 ] ,\"s\":\" x  y \"\n}\n")}},
		{"scalar data", envelope{ID: "evt_4", Type: "ping", Timestamp: payloadTime, Data: json.RawMessage(`"hi"`)}},
		{"html characters", envelope{ID: "<evt&5>", Type: "order.created", Timestamp: payloadTime,
			Data: json.RawMessage(`{"note":"<b>a & b</b>"}`)}},
		{"control characters and quotes", envelope{ID: "evt\x00\x01\b\f\n\r\t\"\\\x7f", Type: "t\x1f", Timestamp: payloadTime,
			Data: json.RawMessage(`{"s":"\u0000\u001f\"\\"}`)}},
		{"unicode and line separators", envelope{ID: "évènement_\u2028\u2029_😀", Type: "order.created", Timestamp: payloadTime,
			Data: json.RawMessage("{\"name\":\"Jürgen \u2028 😀\"}")}},
		{"invalid utf-8", envelope{ID: "evt_\xff\xfe_\xe2\x82", Type: "order.created", Timestamp: payloadTime,
			Data: json.RawMessage("{\"s\":\"a\xffb\xe2\x82c\",\"k\xc3\":1}")}},
		{"zero time", envelope{ID: "evt_6", Type: "order.created", Data: json.RawMessage(`{}`)}},
		{"big numbers", envelope{ID: "evt_7", Type: "order.created", Timestamp: payloadTime,
			Data: json.RawMessage(`{"n":12345678901234567890,"f":1.50,"e":-1e-400}`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := encodeJSON(tt.env)
			require.NoError(t, err)
			assert.True(t, json.Valid(got), "not valid JSON: %s", got)
			assert.True(t, utf8.Valid(got), "not valid UTF-8: %q", got)
			var compact bytes.Buffer
			require.NoError(t, json.Compact(&compact, got))
			assert.Equal(t, compact.String(), string(got), "not compact")

			// Same value as json.Marshal of the envelope with its time in UTC.
			utc := tt.env
			utc.Timestamp = utc.Timestamp.UTC()
			if len(utc.Data) == 0 {
				utc.Data = nil
			}
			want, err := json.Marshal(utc)
			require.NoError(t, err)
			assert.Equal(t, payloadDecodeJSON(t, want), payloadDecodeJSON(t, got))

			// It decodes back into the envelope.
			var back, stdBack envelope
			require.NoError(t, json.Unmarshal(got, &back))
			require.NoError(t, json.Unmarshal(want, &stdBack))
			assert.Equal(t, stdBack.ID, back.ID)
			assert.Equal(t, stdBack.Type, back.Type)
			assert.True(t, tt.env.Timestamp.Equal(back.Timestamp), "timestamp %v, want %v", back.Timestamp, tt.env.Timestamp)

			// The timestamp is RFC 3339 in UTC.
			var raw struct{ Timestamp string }
			require.NoError(t, json.Unmarshal(got, &raw))
			assert.True(t, strings.HasSuffix(raw.Timestamp, "Z"), "timestamp %q not in UTC", raw.Timestamp)
			parsed, err := time.Parse(time.RFC3339, raw.Timestamp)
			require.NoError(t, err)
			assert.True(t, parsed.Equal(tt.env.Timestamp))

			// Members are in envelope order.
			assert.True(t, bytes.HasPrefix(got, []byte(`{"id":`)), "%s", got)
			again, err := encodeJSON(tt.env)
			require.NoError(t, err)
			assert.Equal(t, got, again, "not deterministic")
		})
	}
}

func TestEncodeJSONExact(t *testing.T) {
	got, err := encodeJSON(envelope{
		ID:        "evt_1",
		Type:      "order.created",
		Timestamp: payloadTime,
		Data:      json.RawMessage(`{ "id": "12345", "note": "<a & b>", "n": 1.50 }`),
	})
	require.NoError(t, err)
	// <, > and & are not escaped; the data is compacted, its spelling kept.
	assert.Equal(t, `{"id":"evt_1","type":"order.created","timestamp":"2026-03-04T06:08:09.123456789Z",`+
		`"data":{"id":"12345","note":"<a & b>","n":1.50}}`, string(got))
}

func TestRFC3339NanoLen(t *testing.T) {
	for _, year := range []int{-1, 0, 1, 999, 1970, 2026, 9999, 10000, 12345} {
		for _, ns := range []int{0, 1, 10, 120, 1_000, 123_456, 500_000_000, 123_456_789, 999_999_999} {
			tm := time.Date(year, time.December, 31, 23, 59, 59, ns, time.UTC)
			assert.Equal(t, len(tm.Format(time.RFC3339Nano)), rfc3339NanoLen(tm), "%v", tm)
		}
	}
}

func TestEncodeJSONStrings(t *testing.T) {
	inputs := []string{"", "plain", "\u2028\u2029", "\xed\xa0\x80", "\xf4\x90\x80\x80", "a\xc3", "😀\x00😀"}
	for c := 0; c < 256; c++ {
		inputs = append(inputs, string([]byte{byte(c)}), "x"+string([]byte{byte(c)})+"y")
		// Past the first eight bytes, which are looked at together, at every offset.
		for n := 5; n <= 17; n++ {
			inputs = append(inputs, strings.Repeat("x", n)+string([]byte{byte(c)})+"yz")
		}
	}
	inputs = append(inputs, "evt_01JNP6Z3V8W2K4Q9R7T5Y1X0AB", "order.created", strings.Repeat("~\x7f ", 9))
	for _, s := range inputs {
		assert.Equal(t, len(appendJSONString(nil, s)), jsonStringLen(s), "%q", s)
		got := appendJSONString([]byte("prefix"), s)
		require.True(t, bytes.HasPrefix(got, []byte("prefix")))
		got = got[len("prefix"):]
		var fromOurs, fromStd string
		require.NoError(t, json.Unmarshal(got, &fromOurs), "%q -> %s", s, got)
		std, err := json.Marshal(s)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(std, &fromStd))
		assert.Equal(t, fromStd, fromOurs, "%q -> %s", s, got)
		assert.True(t, utf8.Valid(got), "%q -> %q", s, got)
	}
}

func TestEncodeJSONErrors(t *testing.T) {
	tests := []struct {
		name string
		env  envelope
	}{
		{"invalid data", envelope{ID: "evt_1", Timestamp: payloadTime, Data: json.RawMessage(`{"a":`)}},
		{"two values", envelope{ID: "evt_1", Timestamp: payloadTime, Data: json.RawMessage(`1 2`)}},
		{"whitespace only", envelope{ID: "evt_1", Timestamp: payloadTime, Data: json.RawMessage(` `)}},
		{"year after 9999", envelope{ID: "evt_1", Timestamp: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), Data: json.RawMessage(`{}`)}},
		{"year before 0", envelope{ID: "evt_1", Timestamp: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), Data: json.RawMessage(`{}`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := encodeJSON(tt.env)
			assert.Error(t, err)
			assert.Nil(t, got)
			got, err = encodeXML(tt.env)
			assert.Error(t, err)
			assert.Nil(t, got)
		})
	}
}

func TestEncodeXMLExact(t *testing.T) {
	tests := []struct {
		name string
		data string
		want string // the <data> element
	}{
		{"object", `{"id":"12345","total":149.90,"paid":true,"coupon":null}`,
			`<data type="object"><id>12345</id><total type="number">149.90</total><paid type="boolean">true</paid><coupon nil="true"/></data>`},
		{"member order kept", `{"z":1,"a":2,"m":3}`,
			`<data type="object"><z type="number">1</z><a type="number">2</a><m type="number">3</m></data>`},
		{"nested object", `{"customer":{"name":"Ann","address":{"city":"Berlin"}}}`,
			`<data type="object"><customer type="object"><name>Ann</name><address type="object"><city>Berlin</city></address></customer></data>`},
		{"array of objects", `{"line_items":[{"sku":"A"},{"sku":"B"}]}`,
			`<data type="object"><line_items type="array"><item type="object"><sku>A</sku></item><item type="object"><sku>B</sku></item></line_items></data>`},
		{"array of scalars", `{"tags":["a",1,false,null]}`,
			`<data type="object"><tags type="array"><item>a</item><item type="number">1</item><item type="boolean">false</item><item nil="true"/></tags></data>`},
		{"nested arrays", `[[1],[]]`,
			`<data type="array"><item type="array"><item type="number">1</item></item><item type="array"></item></data>`},
		{"empty object, array and string", `{"o":{},"a":[],"s":""}`,
			`<data type="object"><o type="object"></o><a type="array"></a><s></s></data>`},
		{"null data", `null`, `<data nil="true"/>`},
		{"string data", `"x"`, `<data>x</data>`},
		{"big number kept exactly", `{"n":12345678901234567890,"e":-1.5E+300,"z":-0.0}`,
			`<data type="object"><n type="number">12345678901234567890</n><e type="number">-1.5E+300</e><z type="number">-0.0</z></data>`},
		{"key with space", `{"first name":"Ann"}`,
			`<data type="object"><first_name key="first name">Ann</first_name></data>`},
		{"key starting with digit", `{"1st":1,"2":2}`,
			`<data type="object"><_1st key="1st" type="number">1</_1st><_2 key="2" type="number">2</_2></data>`},
		{"key with colon", `{"ns:tag":"v"}`,
			`<data type="object"><ns_tag key="ns:tag">v</ns_tag></data>`},
		{"key with xml prefix", `{"xmlns":"a","XML_id":"b","xm":"c"}`,
			`<data type="object"><_xmlns key="xmlns">a</_xmlns><_XML_id key="XML_id">b</_XML_id><xm>c</xm></data>`},
		{"empty key", `{"":1}`,
			`<data type="object"><_ key="" type="number">1</_></data>`},
		{"key with markup", `{"<a&\"b'>":1}`,
			`<data type="object"><_a__b__ key="&lt;a&amp;&#34;b&#39;&gt;" type="number">1</_a__b__></data>`},
		{"non-ascii key", `{"prénom":"Zoë","名前":"x"}`,
			`<data type="object"><pr_nom key="prénom">Zoë</pr_nom><__ key="名前">x</__></data>`},
		{"names that stay", `{"a-b.c_d":1,"_x":2,"item":3}`,
			`<data type="object"><a-b.c_d type="number">1</a-b.c_d><_x type="number">2</_x><item type="number">3</item></data>`},
		{"markup in text", `{"s":"<b>\"Tom\" & 'Jerry'</b> ]]>"}`,
			`<data type="object"><s>&lt;b&gt;&#34;Tom&#34; &amp; &#39;Jerry&#39;&lt;/b&gt; ]]&gt;</s></data>`},
		{"whitespace characters kept", `{"s":"a\tb\nc\r\nd"}`,
			`<data type="object"><s>a&#x9;b&#xA;c&#xD;&#xA;d</s></data>`},
		{"forbidden characters replaced", `{"s":"a\u0000b\u001fc\u0008d\uffff\ufffe","\u0001":1}`,
			`<data type="object"><s>a` + "\uFFFD" + `b` + "\uFFFD" + `c` + "\uFFFD" + `d` + "\uFFFD\uFFFD" +
				`</s><_ key="` + "\uFFFD" + `" type="number">1</_></data>`},
		{"unicode text", `{"s":"Grüße 😀 \u00e9 \ud83d\ude00"}`,
			`<data type="object"><s>Grüße 😀 é 😀</s></data>`},
		{"lone surrogate", `{"s":"\ud800"}`,
			`<data type="object"><s>` + "\uFFFD" + `</s></data>`},
		{"duplicate keys all kept", `{"a":1,"a":2}`,
			`<data type="object"><a type="number">1</a><a type="number">2</a></data>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := encodeXML(envelope{ID: "evt_1", Type: "order.created", Timestamp: payloadTime, Data: json.RawMessage(tt.data)})
			require.NoError(t, err)
			want := xml.Header + `<webhook><id>evt_1</id><type>order.created</type>` +
				`<timestamp>2026-03-04T06:08:09.123456789Z</timestamp>` + tt.want + `</webhook>`
			assert.Equal(t, want, string(got))
			payloadRequireWellFormed(t, got)
		})
	}
}

func TestEncodeXMLEnvelope(t *testing.T) {
	tests := []envelope{
		{ID: "evt_1", Type: "order.created", Timestamp: payloadTime, Data: json.RawMessage(payloadOrder)},
		{ID: `<evt "1" & 'x'>`, Type: "order.created]]>", Timestamp: time.Unix(0, 0), Data: json.RawMessage(`{}`)},
		{ID: "evt\x00\x01\t\n\r\xff😀", Type: "", Timestamp: payloadTime, Data: json.RawMessage(`[]`)},
		{ID: "evt_2", Type: "order.created", Timestamp: payloadTime}, // empty data is null
	}
	for _, env := range tests {
		t.Run(fmt.Sprintf("%q", env.ID), func(t *testing.T) {
			got, err := encodeXML(env)
			require.NoError(t, err)
			assert.True(t, bytes.HasPrefix(got, []byte(`<?xml version="1.0" encoding="UTF-8"?>`)))
			assert.True(t, utf8.Valid(got))

			id, typ, ts, data, err := payloadDecodeXML(got)
			require.NoError(t, err, "%s", got)
			assert.Equal(t, payloadXMLString(env.ID), id)
			assert.Equal(t, payloadXMLString(env.Type), typ)
			parsed, err := time.Parse(time.RFC3339Nano, ts)
			require.NoError(t, err)
			assert.True(t, parsed.Equal(env.Timestamp))
			assert.True(t, strings.HasSuffix(ts, "Z"), "timestamp %q not in UTC", ts)
			wantData := json.RawMessage(env.Data)
			if len(wantData) == 0 {
				wantData = json.RawMessage("null")
			}
			assert.Equal(t, payloadJSONTree(t, wantData), data)
		})
	}
}

func TestEncodeXMLRoundTrip(t *testing.T) {
	inputs := []string{
		payloadOrder,
		`{}`, `[]`, `null`, `true`, `false`, `0`, `""`, `"text"`,
		`{"a":{"b":{"c":{"d":[[[{"e":null}]]]}}}}`,
		`{"line_items":[{"id":1,"qty":2},{"id":2,"qty":1,"options":{"size":"M","colour":"red"}}]}`,
		`{"tags":["a","b",""],"nums":[1,2.5,-3e10],"mixed":[1,"1",true,null,{},[]]}`,
		`{"empty":{},"list":[],"s":"","n":null}`,
		`{"first name":"Ann","1st":1,"ns:tag":2,"xmlns":3,"XmL":4,"":5,"a b":{"c d":[{"e f":6}]},"item":7,"key":8,"type":9,"nil":10}`,
		`{"s":"<&>\"' ]]> \u0000\u0001\u0008\u000b\u000c\u001f\u007f\u0080\u009f \ud800 \udfff \ufffe\uffff"}`,
		`{"s":"tab\there\nnewline\r\ncrlf\rcr  two  spaces "}`,
		`{"unicode":"日本語 Ελληνικά العربية 😀 \u2028\u2029","名前":"x","ключ":"y"}`,
		`{"big":12345678901234567890,"neg":-12345678901234567890.123456789,"exp":1E+400,"small":5e-324,"negzero":-0}`,
		`{"a":1,"a":2,"b":{"a":3}}`,
		`[{"id":1},{"id":2},[{"id":3}]]`,
		"{\"k\":\"a\xffb\"}",
	}
	for _, in := range inputs {
		t.Run(in[:min(len(in), 40)], func(t *testing.T) {
			env := envelope{ID: "evt_1", Type: "order.created", Timestamp: payloadTime, Data: json.RawMessage(in)}
			got, err := encodeXML(env)
			require.NoError(t, err)
			_, _, _, data, err := payloadDecodeXML(got)
			require.NoError(t, err, "%s", got)
			assert.Equal(t, payloadJSONTree(t, env.Data), data, "%s", got)

			again, err := encodeXML(env)
			require.NoError(t, err)
			assert.Equal(t, got, again, "not deterministic")
		})
	}
}

func TestEncodeXMLDeepNesting(t *testing.T) {
	const depth = 5000
	data := strings.Repeat(`{"a":[`, depth) + `1` + strings.Repeat(`]}`, depth)
	got, err := encodeXML(envelope{ID: "evt_1", Type: "order.created", Timestamp: payloadTime, Data: json.RawMessage(data)})
	require.NoError(t, err)
	payloadRequireWellFormed(t, got)
	assert.Equal(t, depth, bytes.Count(got, []byte(`<a type="array">`)))
}

func TestQueryParams(t *testing.T) {
	ts := time.Date(2026, 3, 4, 5, 6, 7, 999999999, time.UTC)
	unix := fmt.Sprint(ts.Unix())
	tests := []struct {
		name string
		typ  string
		data string
		want url.Values
	}{
		{"order with string id", "order.created", `{"id":"12345","total":"9.90"}`,
			url.Values{"event_type": {"order.created"}, "event_id": {"evt_1"}, "timestamp": {unix}, "order_id": {"12345"}}},
		{"order with number id", "order.created", `{"total":"9.90","id":12345}`,
			url.Values{"event_type": {"order.created"}, "event_id": {"evt_1"}, "timestamp": {unix}, "order_id": {"12345"}}},
		{"big number id kept exactly", "order.updated", `{"id":12345678901234567890}`,
			url.Values{"event_type": {"order.updated"}, "event_id": {"evt_1"}, "timestamp": {unix}, "order_id": {"12345678901234567890"}}},
		{"no id", "order.created", `{"number":"#1042"}`,
			url.Values{"event_type": {"order.created"}, "event_id": {"evt_1"}, "timestamp": {unix}}},
		{"product", "product.updated", `{"id":"67890","title":"Mug"}`,
			url.Values{"event_type": {"product.updated"}, "event_id": {"evt_1"}, "timestamp": {unix}, "product_id": {"67890"}}},
		{"product inventory", "product.inventory_updated", `{"id":67890,"stock":3}`,
			url.Values{"event_type": {"product.inventory_updated"}, "event_id": {"evt_1"}, "timestamp": {unix}, "product_id": {"67890"}}},
		{"customer", "customer.deleted", `{"id":"cus_881"}`,
			url.Values{"event_type": {"customer.deleted"}, "event_id": {"evt_1"}, "timestamp": {unix}, "customer_id": {"cus_881"}}},
		{"id needing escaping", "order.created", `{"id":"a&b=c d"}`,
			url.Values{"event_type": {"order.created"}, "event_id": {"evt_1"}, "timestamp": {unix}, "order_id": {"a&b=c d"}}},
		{"id matched exactly", "order.created", `{"ID":"1","Id":"2"}`,
			url.Values{"event_type": {"order.created"}, "event_id": {"evt_1"}, "timestamp": {unix}}},
		{"nested id ignored", "order.created", `{"customer":{"id":"9"}}`,
			url.Values{"event_type": {"order.created"}, "event_id": {"evt_1"}, "timestamp": {unix}}},
		{"empty string id", "order.created", `{"id":""}`,
			url.Values{"event_type": {"order.created"}, "event_id": {"evt_1"}, "timestamp": {unix}}},
		{"null id", "order.created", `{"id":null}`,
			url.Values{"event_type": {"order.created"}, "event_id": {"evt_1"}, "timestamp": {unix}}},
		{"bool id", "order.created", `{"id":true}`,
			url.Values{"event_type": {"order.created"}, "event_id": {"evt_1"}, "timestamp": {unix}}},
		{"object id", "order.created", `{"id":{"v":1}}`,
			url.Values{"event_type": {"order.created"}, "event_id": {"evt_1"}, "timestamp": {unix}}},
		{"data not an object", "order.created", `[{"id":"1"}]`,
			url.Values{"event_type": {"order.created"}, "event_id": {"evt_1"}, "timestamp": {unix}}},
		{"no data", "order.created", ``,
			url.Values{"event_type": {"order.created"}, "event_id": {"evt_1"}, "timestamp": {unix}}},
		{"type without dot", "ping", `{"id":"1"}`,
			url.Values{"event_type": {"ping"}, "event_id": {"evt_1"}, "timestamp": {unix}, "ping_id": {"1"}}},
		{"resource event keeps the event id", "event.happened", `{"id":"1"}`,
			url.Values{"event_type": {"event.happened"}, "event_id": {"evt_1"}, "timestamp": {unix}}},
		{"scalar fields not flattened", "payment.completed", `{"id":"pay_1","amount":"9.90","status":"completed"}`,
			url.Values{"event_type": {"payment.completed"}, "event_id": {"evt_1"}, "timestamp": {unix}, "payment_id": {"pay_1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := queryParams(envelope{ID: "evt_1", Type: tt.typ, Timestamp: ts, Data: json.RawMessage(tt.data)})
			assert.Equal(t, tt.want, got)
		})
	}

	t.Run("resource ID as <resource>_id", func(t *testing.T) {
		q := queryParams(envelope{ID: "evt_1", Type: "order.created", Timestamp: ts, Data: json.RawMessage(`{"id":"12345"}`)})
		assert.Equal(t, "event_id=evt_1&event_type=order.created&order_id=12345&timestamp="+unix, q.Encode())
	})
}

func FuzzJSONToXML(f *testing.F) {
	for _, seed := range []string{
		payloadOrder, `{}`, `[]`, `null`, `"s"`, `1`,
		`{"a b":[1,{"":null}],"1":"<&>","xml":"\u0000\ufffe"}`,
		`{"n":12345678901234567890,"e":1e400}`,
	} {
		f.Add([]byte(seed), "evt_1", "order.created")
	}
	f.Add([]byte(`{"k":"\ud800"}`), "evt\x00\xff", "]]>")
	f.Fuzz(func(t *testing.T, data []byte, id, typ string) {
		if !json.Valid(data) {
			return
		}
		env := envelope{ID: id, Type: typ, Timestamp: payloadTime, Data: data}
		got, err := encodeXML(env)
		if err != nil {
			t.Fatalf("encodeXML(%q): %v", data, err)
		}
		if !utf8.Valid(got) {
			t.Fatalf("encodeXML(%q) is not valid UTF-8: %q", data, got)
		}
		gotID, gotType, _, gotData, err := payloadDecodeXML(got)
		if err != nil {
			t.Fatalf("encodeXML(%q) = %q: %v", data, got, err)
		}
		if gotID != payloadXMLString(id) || gotType != payloadXMLString(typ) {
			t.Fatalf("encodeXML: id, type = %q, %q; want %q, %q", gotID, gotType, id, typ)
		}
		if want := payloadJSONTree(t, data); !assert.ObjectsAreEqual(want, gotData) {
			t.Fatalf("encodeXML(%q) = %q\nread back as %#v\nwant %#v", data, got, gotData, want)
		}

		// The JSON body of the same data is valid too, and as long as Emit reckons.
		body, err := encodeJSON(env)
		if err != nil {
			t.Fatalf("encodeJSON(%q): %v", data, err)
		}
		var compact bytes.Buffer
		_ = json.Compact(&compact, data)
		// (Each invalid UTF-8 byte of the data becomes \ufffd in the body, which
		// envelopeSize does not count.)
		if n := envelopeSize(id, typ, env.Timestamp, compact.Bytes()); utf8.Valid(data) && n != len(body) {
			t.Fatalf("envelopeSize = %d, the body of %q is %d bytes", n, data, len(body))
		}
		if !json.Valid(body) || !utf8.Valid(body) {
			t.Fatalf("encodeJSON(%q) = %q: not valid UTF-8 JSON", data, body)
		}
	})
}

func BenchmarkEncodeJSON(b *testing.B) {
	env := envelope{ID: "evt_01JNP6Z3V8W2K4Q9R7T5Y1X0AB", Type: "order.created", Timestamp: payloadTime, Data: json.RawMessage(payloadOrder)}
	b.ReportAllocs()
	b.SetBytes(int64(len(payloadOrder)))
	for b.Loop() {
		if _, err := encodeJSON(env); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeXML(b *testing.B) {
	env := envelope{ID: "evt_01JNP6Z3V8W2K4Q9R7T5Y1X0AB", Type: "order.created", Timestamp: payloadTime, Data: json.RawMessage(payloadOrder)}
	b.ReportAllocs()
	b.SetBytes(int64(len(payloadOrder)))
	for b.Loop() {
		if _, err := encodeXML(env); err != nil {
			b.Fatal(err)
		}
	}
}

// payloadDecodeJSON decodes b, keeping numbers as written.
func payloadDecodeJSON(t testing.TB, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	require.NoError(t, dec.Decode(&v), "%s", b)
	return v
}

// payloadXMLString is s as it reads back from XML: every character XML 1.0 forbids (and
// invalid UTF-8) replaced by U+FFFD.
func payloadXMLString(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r',
			0x20 <= r && r <= 0xD7FF,
			0xE000 <= r && r <= 0xFFFD,
			0x10000 <= r && r <= 0x10FFFF:
			return r
		}
		return utf8.RuneError
	}, s)
}

// payloadJSONTree decodes the JSON value data the way the XML side reads it back: numbers
// as json.Number, strings (keys too) through payloadXMLString, and the last of duplicate keys
// winning in document order.
func payloadJSONTree(t testing.TB, data []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var read func() any
	read = func() any {
		tok, err := dec.Token()
		require.NoError(t, err)
		switch v := tok.(type) {
		case json.Delim:
			if v == '{' {
				m := map[string]any{}
				for dec.More() {
					k, err := dec.Token()
					require.NoError(t, err)
					m[payloadXMLString(k.(string))] = read()
				}
				_, err := dec.Token()
				require.NoError(t, err)
				return m
			}
			a := []any{}
			for dec.More() {
				a = append(a, read())
			}
			_, err := dec.Token()
			require.NoError(t, err)
			return a
		case string:
			return payloadXMLString(v)
		default:
			return v // json.Number, bool or nil
		}
	}
	return read()
}

// payloadNode is an XML element read by payloadReadXML.
type payloadNode struct {
	name     string
	attrs    map[string]string
	children []*payloadNode
	text     strings.Builder
}

// payloadReadXML reads a whole XML document with encoding/xml in strict mode and returns its
// root element, failing on any token a webhook body should not contain.
func payloadReadXML(b []byte) (*payloadNode, error) {
	dec := xml.NewDecoder(bytes.NewReader(b))
	var root *payloadNode
	var stack []*payloadNode
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if tok.Name.Space != "" {
				return nil, fmt.Errorf("element %q has a namespace %q", tok.Name.Local, tok.Name.Space)
			}
			n := &payloadNode{name: tok.Name.Local, attrs: map[string]string{}}
			for _, a := range tok.Attr {
				if a.Name.Space != "" {
					return nil, fmt.Errorf("attribute %q has a namespace %q", a.Name.Local, a.Name.Space)
				}
				n.attrs[a.Name.Local] = a.Value
			}
			if len(stack) == 0 {
				if root != nil {
					return nil, errors.New("two root elements")
				}
				root = n
			} else {
				parent := stack[len(stack)-1]
				if parent.text.Len() > 0 {
					return nil, fmt.Errorf("element %q has both text and children", parent.name)
				}
				parent.children = append(parent.children, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				if len(bytes.TrimSpace(tok)) > 0 {
					return nil, fmt.Errorf("text %q outside the root", tok)
				}
				continue
			}
			n := stack[len(stack)-1]
			if len(n.children) > 0 {
				return nil, fmt.Errorf("element %q has both text and children", n.name)
			}
			n.text.Write(tok)
		case xml.ProcInst:
			if tok.Target != "xml" {
				return nil, fmt.Errorf("unexpected processing instruction %q", tok.Target)
			}
		default:
			return nil, fmt.Errorf("unexpected token %T", tok)
		}
	}
	if root == nil {
		return nil, errors.New("no root element")
	}
	return root, nil
}

// payloadRequireWellFormed fails t unless b is an XML document encoding/xml reads to the end.
func payloadRequireWellFormed(t testing.TB, b []byte) {
	t.Helper()
	_, err := payloadReadXML(b)
	require.NoError(t, err, "%s", b)
}

// payloadDecodeXML reads an XML body back into the envelope's fields and the data as the
// JSON value it stands for, checking the mapping rules on the way.
func payloadDecodeXML(b []byte) (id, typ, timestamp string, data any, err error) {
	root, err := payloadReadXML(b)
	if err != nil {
		return "", "", "", nil, err
	}
	if root.name != "webhook" || len(root.attrs) != 0 || len(root.children) != 4 {
		return "", "", "", nil, fmt.Errorf("root %q with %d attributes and %d children", root.name, len(root.attrs), len(root.children))
	}
	for i, name := range []string{"id", "type", "timestamp", "data"} {
		if c := root.children[i]; c.name != name {
			return "", "", "", nil, fmt.Errorf("child %d is %q, want %q", i, c.name, name)
		}
	}
	for _, c := range root.children[:3] {
		if len(c.attrs) != 0 || len(c.children) != 0 {
			return "", "", "", nil, fmt.Errorf("%q has attributes or children", c.name)
		}
	}
	data, err = payloadXMLValue(root.children[3])
	return root.children[0].text.String(), root.children[1].text.String(), root.children[2].text.String(), data, err
}

// payloadXMLValue returns the JSON value that the element n stands for.
func payloadXMLValue(n *payloadNode) (any, error) {
	attrs := len(n.attrs)
	if _, ok := n.attrs["key"]; ok {
		attrs--
	}
	if n.attrs["nil"] == "true" {
		if attrs != 1 || len(n.children) > 0 || n.text.Len() > 0 {
			return nil, fmt.Errorf("nil element %q with content or other attributes", n.name)
		}
		return nil, nil
	}
	typ, ok := n.attrs["type"]
	if attrs != 0 && (!ok || attrs != 1) {
		return nil, fmt.Errorf("element %q has unexpected attributes %v", n.name, n.attrs)
	}
	if typ != "object" && typ != "array" && len(n.children) > 0 {
		return nil, fmt.Errorf("element %q of type %q has children", n.name, typ)
	}
	text := n.text.String()
	switch typ {
	case "object":
		m := map[string]any{}
		for _, c := range n.children {
			k, hasKey := c.attrs["key"]
			if !hasKey {
				k = c.name
			}
			if name, renamed := xmlElementName(k); name != c.name || renamed != hasKey {
				return nil, fmt.Errorf("key %q written as element %q (key attribute: %v)", k, c.name, hasKey)
			}
			v, err := payloadXMLValue(c)
			if err != nil {
				return nil, err
			}
			m[k] = v
		}
		return m, nil
	case "array":
		a := []any{}
		for _, c := range n.children {
			if c.name != "item" {
				return nil, fmt.Errorf("array element named %q", c.name)
			}
			if _, ok := c.attrs["key"]; ok {
				return nil, errors.New("array element with a key attribute")
			}
			v, err := payloadXMLValue(c)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		return a, nil
	case "number":
		if !json.Valid([]byte(text)) || strings.ContainsAny(text, `"[{tfn`) {
			return nil, fmt.Errorf("number %q", text)
		}
		return json.Number(text), nil
	case "boolean":
		if text != "true" && text != "false" {
			return nil, fmt.Errorf("boolean %q", text)
		}
		return text == "true", nil
	case "":
		return text, nil
	}
	return nil, fmt.Errorf("unknown type %q", typ)
}

// encodeJSON is encodeEnvelope for data not known to be checked, as for every store but
// the memory store.
func encodeJSON(e envelope) ([]byte, error) { return encodeEnvelope(e, false) }
