package loggen

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/apimgw/apimgw/internal/logs"
)

// WriteJSONLines writes records as the gateway does: one JSON object a line.
func WriteJSONLines(w io.Writer, recs []logs.Record) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for i := range recs {
		if err := enc.Encode(&recs[i]); err != nil {
			return fmt.Errorf("write record %d: %w", i, err)
		}
	}
	return bw.Flush()
}

// columns are the ApiManagementGatewayLogs columns the exports carry, in
// the portal's order (a subset: the ones apimgw logs).
var columns = [...]string{
	"TenantId", "TimeGenerated", "OperationName", "CorrelationId", "Region", "IsRequestSuccess",
	"Category", "TotalTime", "CallerIpAddress", "Method", "Url", "ClientProtocol", "ResponseCode",
	"BackendMethod", "BackendUrl", "BackendResponseCode", "BackendProtocol", "RequestSize",
	"ResponseSize", "Cache", "CacheTime", "BackendTime", "ClientTime", "ApiId", "OperationId",
	"ProductId", "UserId", "ApimSubscriptionId", "BackendId", "LastErrorElapsed", "LastErrorSource",
	"LastErrorScope", "LastErrorSection", "LastErrorReason", "LastErrorMessage", "ApiRevision",
	"ClientTlsVersion", "Errors", "Type", "_ResourceId",
}

// TimeStyle selects how an export writes TimeGenerated.
type TimeStyle int

const (
	// TimeISO writes "2024-05-01T10:00:00.000Z" under "TimeGenerated [UTC]".
	TimeISO TimeStyle = iota
	// TimeUS writes "5/1/2024, 10:00:00.000 AM" under "TimeGenerated [UTC]".
	TimeUS
)

func cells(r *logs.Record, style TimeStyle) []string {
	ts := r.TimeGenerated.UTC().Format("2006-01-02T15:04:05.000Z")
	if style == TimeUS {
		ts = r.TimeGenerated.UTC().Format("1/2/2006, 3:04:05.000 PM")
	}
	errs := ""
	if len(r.Errors) > 0 {
		b, _ := json.Marshal(r.Errors)
		errs = string(b)
	}
	itoa := func(n int64) string { return strconv.FormatInt(n, 10) }
	return []string{
		"00000000-0000-0000-0000-000000000000", ts, "Microsoft.ApiManagement/GatewayLogs", r.CorrelationId,
		"West Europe", strconv.FormatBool(r.IsRequestSuccess), "GatewayLogs", itoa(r.TotalTime),
		r.CallerIpAddress, r.Method, r.Url, "HTTP/1.1", itoa(int64(r.ResponseCode)),
		r.BackendMethod, r.BackendUrl, itoa(int64(r.BackendResponseCode)), "HTTP/1.1", "0",
		itoa(r.ResponseSize), r.Cache, "0", itoa(r.BackendTime), itoa(r.ClientTime), r.ApiId, r.OperationId,
		r.ProductId, "1", r.ApimSubscriptionId, r.BackendId, "0", r.LastErrorSource,
		"api", r.LastErrorSection, r.LastErrorReason, r.LastErrorMessage, "1",
		"TLSv1.2", errs, "ApiManagementGatewayLogs", "/SUBSCRIPTIONS/0/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.APIMANAGEMENT/SERVICE/CONTOSO",
	}
}

// WriteCSV writes a Log Analytics portal CSV export: a header of column
// names (time as "TimeGenerated [UTC]") and one row per record.
func WriteCSV(w io.Writer, recs []logs.Record, style TimeStyle) error {
	cw := csv.NewWriter(w)
	header := append([]string(nil), columns[:]...)
	header[1] = "TimeGenerated [UTC]"
	if err := cw.Write(header); err != nil {
		return fmt.Errorf("write CSV header: %w", err)
	}
	for i := range recs {
		if err := cw.Write(cells(&recs[i], style)); err != nil {
			return fmt.Errorf("write CSV row %d: %w", i, err)
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteJSONTables writes the Log Analytics query API shape:
// {"tables":[{"name":"PrimaryResult","columns":[...],"rows":[[...]]}]}.
// Numbers are JSON numbers, as the API returns them for int/long columns.
func WriteJSONTables(w io.Writer, recs []logs.Record) error {
	bw := bufio.NewWriter(w)
	type col struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}
	cols := make([]col, len(columns))
	for i, c := range columns {
		cols[i] = col{Name: c, Type: "string"}
		switch c {
		case "TimeGenerated":
			cols[i].Type = "datetime"
		case "TotalTime", "ResponseCode", "BackendResponseCode", "RequestSize", "ResponseSize",
			"CacheTime", "BackendTime", "ClientTime", "LastErrorElapsed":
			cols[i].Type = "long"
		case "IsRequestSuccess":
			cols[i].Type = "bool"
		}
	}
	head, err := json.Marshal(cols)
	if err != nil {
		return err
	}
	fmt.Fprintf(bw, `{"tables":[{"name":"PrimaryResult","columns":%s,"rows":[`, head)
	for i := range recs {
		row := make([]any, len(columns))
		for j, v := range cells(&recs[i], TimeISO) {
			switch cols[j].Type {
			case "long":
				n, _ := strconv.ParseInt(v, 10, 64)
				row[j] = n
			case "bool":
				row[j] = v == "true"
			default:
				row[j] = v
			}
		}
		b, err := json.Marshal(row)
		if err != nil {
			return fmt.Errorf("write row %d: %w", i, err)
		}
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.Write(b)
	}
	bw.WriteString("]}]}\n")
	return bw.Flush()
}

// WriteJSONArray writes an array of objects with every value a string, as
// `az monitor log-analytics query` prints them.
func WriteJSONArray(w io.Writer, recs []logs.Record) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("[\n")
	for i := range recs {
		obj := make(map[string]string, len(columns))
		for j, v := range cells(&recs[i], TimeISO) {
			obj[columns[j]] = v
		}
		obj["TableName"] = "PrimaryResult"
		b, err := json.Marshal(obj)
		if err != nil {
			return fmt.Errorf("write object %d: %w", i, err)
		}
		if i > 0 {
			bw.WriteString(",\n")
		}
		bw.Write(b)
	}
	bw.WriteString("\n]\n")
	return bw.Flush()
}
