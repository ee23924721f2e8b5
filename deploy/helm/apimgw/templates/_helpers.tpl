{{- define "apimgw.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "apimgw.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "apimgw.labels" -}}
app.kubernetes.io/name: {{ include "apimgw.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{ include "apimgw.commonLabels" . }}
{{- end -}}

{{- define "apimgw.commonLabels" -}}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "apimgw.selectorLabels" -}}
app.kubernetes.io/name: {{ include "apimgw.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: gateway
{{- end -}}

{{- define "apimgw.redisSelectorLabels" -}}
app.kubernetes.io/name: {{ include "apimgw.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: redis
{{- end -}}

{{- define "apimgw.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "apimgw.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "apimgw.secretName" -}}
{{- default (printf "%s-secrets" (include "apimgw.fullname" .)) .Values.existingSecret -}}
{{- end -}}

{{/* The Redis address apimgw uses, or "" for the embedded store. */}}
{{- define "apimgw.redisAddr" -}}
{{- if .Values.redis.enabled -}}
{{- printf "%s-redis:6379" (include "apimgw.fullname" .) -}}
{{- else -}}
{{- .Values.externalRedis.addr -}}
{{- end -}}
{{- end -}}

{{/* gateway.yaml: the user's config with the keys the chart owns set. */}}
{{- define "apimgw.gatewayConfig" -}}
{{- $cfg := deepCopy .Values.config -}}
{{- $_ := set $cfg "listen" (printf "0.0.0.0:%d" (int .Values.ports.http)) -}}
{{- $_ := set $cfg "admin" (printf "0.0.0.0:%d" (int .Values.ports.admin)) -}}
{{- $_ := set $cfg "shutdown" (dict "timeout" (printf "%ds" (int .Values.shutdown.drainSeconds))) -}}
{{- $addr := include "apimgw.redisAddr" . -}}
{{- if $addr -}}
{{- $redis := deepCopy .Values.redisStore -}}
{{- $_ := set $redis "addr" $addr -}}
{{- if and .Values.redis.enabled .Values.redis.password -}}
{{- $_ := set $redis "password" "${file:secrets/redis-password}" -}}
{{- else if and (not .Values.redis.enabled) .Values.externalRedis.passwordSecretKey -}}
{{- $_ := set $redis "password" (printf "${file:secrets/%s}" .Values.externalRedis.passwordSecretKey) -}}
{{- end -}}
{{- $_ := set $cfg "store" (dict "type" "redis" "redis" $redis) -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/* A ConfigMap key for a file path (keys cannot hold "/"). */}}
{{- define "apimgw.fileKey" -}}
{{- . | replace "/" "__" -}}
{{- end -}}

{{/* The Secret's keys, projected as /etc/apimgw/secrets/KEY. */}}
{{- define "apimgw.secretKeys" -}}
{{- $keys := list -}}
{{- if .Values.existingSecret -}}
{{- if not .Values.existingSecretKeys -}}
{{- fail "existingSecret needs existingSecretKeys: the keys to mount under /etc/apimgw/secrets" -}}
{{- end -}}
{{- $keys = .Values.existingSecretKeys -}}
{{- else -}}
{{- $keys = concat (keys .Values.secrets) (keys .Values.secretFilesBase64) -}}
{{- if and .Values.redis.enabled .Values.redis.password -}}
{{- $keys = append $keys "redis-password" -}}
{{- end -}}
{{- end -}}
{{- $keys | sortAlpha | uniq | toJson -}}
{{- end -}}
