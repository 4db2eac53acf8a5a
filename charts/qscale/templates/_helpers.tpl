{{/* The chart's name: qscale (nameOverride). */}}
{{- define "qscale.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The prefix of every object's name: the release name, or <release>-qscale when the release name
does not contain the chart's. A release called `qscale` names its objects as k8s/base does
(qscale-app, qscale-worker, qscale-exporter, qscale-config, qscale-secrets, …).
*/}}
{{- define "qscale.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "qscale.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The labels of every object. */}}
{{- define "qscale.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | quote }}
{{ include "qscale.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* What selects the release's objects. */}}
{{- define "qscale.selectorLabels" -}}
app.kubernetes.io/name: {{ include "qscale.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of one component's objects: (dict "ctx" $ "component" "app"). */}}
{{- define "qscale.componentLabels" -}}
{{ include "qscale.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Selector of one component's pods: (dict "ctx" $ "component" "app"). */}}
{{- define "qscale.componentSelector" -}}
{{ include "qscale.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "qscale.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The Secret that holds API_TOKEN, REDIS_URL and ACTION_TOKEN. */}}
{{- define "qscale.secretName" -}}
{{- default (printf "%s-secrets" (include "qscale.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{/* The watched queues, QUEUES: `queues`, else QUEUE_NAME. */}}
{{- define "qscale.queues" -}}
{{- if .Values.queues -}}
{{- join "," .Values.queues -}}
{{- else -}}
{{- .Values.config.QUEUE_NAME | default "file_processing" -}}
{{- end -}}
{{- end -}}

{{/* The REDIS_URL of the release's own Secret, if any. */}}
{{- define "qscale.secretRedisUrl" -}}
{{- if eq .Values.redis.mode "bundled" -}}
{{- printf "redis://%s-redis:6379" (include "qscale.fullname" .) -}}
{{- else if and .Values.redis.url (not .Values.redis.passwordSecret.name) -}}
{{- .Values.redis.url -}}
{{- end -}}
{{- end -}}

{{/*
The Redis environment of every qscale container. REDIS_URL comes from redis.urlSecret, or is
redis.url with the password of redis.passwordSecret spliced in ($(QSCALE_REDIS_PASSWORD), which
Kubernetes expands), or comes from the release's Secret (the bundled Redis, redis.url, or the keys
of secrets.existingSecret).
*/}}
{{- define "qscale.redisEnv" -}}
{{- $redis := .Values.redis -}}
{{- if $redis.urlSecret.name }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $redis.urlSecret.name }}
      key: {{ $redis.urlSecret.key }}
{{- else if $redis.passwordSecret.name }}
{{- $url := urlParse $redis.url }}
{{- $user := regexReplaceAll ":.*$" (default "" $url.userinfo) "" }}
- name: QSCALE_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $redis.passwordSecret.name }}
      key: {{ $redis.passwordSecret.key }}
- name: REDIS_URL
  value: {{ printf "%s://%s:$(QSCALE_REDIS_PASSWORD)@%s%s" $url.scheme $user $url.host $url.path | quote }}
{{- else if or (eq $redis.mode "bundled") $redis.url .Values.secrets.existingSecret }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "qscale.secretName" . }}
      key: REDIS_URL
{{- end }}
{{- if $redis.sentinelPasswordSecret.name }}
- name: REDIS_SENTINEL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $redis.sentinelPasswordSecret.name }}
      key: {{ $redis.sentinelPasswordSecret.key }}
{{- end }}
{{- end -}}

{{/* extraEnv, for every qscale container. */}}
{{- define "qscale.extraEnv" -}}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The API's token. */}}
{{- define "qscale.apiTokenEnv" -}}
- name: API_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "qscale.secretName" . }}
      key: API_TOKEN
{{- end -}}

{{/* The sidecar's own environment: the console's action token and pod-deletion-cost. */}}
{{- define "qscale.exporterEnv" -}}
# The operator console's actions from outside the pod need this token (docs/console.md).
- name: ACTION_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "qscale.secretName" . }}
      key: ACTION_TOKEN
      optional: true
{{- if .Values.exporter.podDeletionCost }}
- name: POD_DELETION_COST
  value: 'on'
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- end }}
{{- end -}}

{{/* The worker's id: its pod name. */}}
{{- define "qscale.workerIdEnv" -}}
- name: WORKER_ID
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- end -}}

{{/* Pod-level security: Pod Security Admission `restricted`. */}}
{{- define "qscale.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
{{- if .fsGroup }}
fsGroup: 10001
{{- end }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "qscale.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities:
  drop: ['ALL']
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Spread a component's pods over nodes: (dict "ctx" $ "component" "app"). */}}
{{- define "qscale.topologySpread" -}}
- maxSkew: 1
  topologyKey: kubernetes.io/hostname
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- include "qscale.componentSelector" . | nindent 6 }}
{{- end -}}

{{/* Scheduling and pull settings shared by every pod. */}}
{{- define "qscale.podExtras" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The pod template's annotations: the config checksum (a changed ConfigMap rolls the pods), extras. */}}
{{- define "qscale.podAnnotations" -}}
checksum/config: {{ include (print .ctx.Template.BasePath "/configmap.yaml") .ctx | sha256sum }}
{{- if .scrape }}
{{- if not .ctx.Values.monitoring.serviceMonitor.enabled }}
prometheus.io/scrape: 'true'
prometheus.io/port: '9464'
prometheus.io/path: /metrics
{{- end }}
{{- end }}
{{- with .ctx.Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The image and its pull policy. */}}
{{- define "qscale.containerImage" -}}
image: {{ include "qscale.image" . }}
{{- with .Values.image.pullPolicy }}
imagePullPolicy: {{ . }}
{{- end }}
{{- end -}}

{{/* The KEDA scaler's address: the sidecar's Service. */}}
{{- define "qscale.scalerAddress" -}}
{{- printf "%s-exporter.%s.svc.%s:6000" (include "qscale.fullname" .) .Release.Namespace .Values.clusterDomain -}}
{{- end -}}

{{/* Checks across values that the schema cannot express, each failing with what to set. */}}
{{- define "qscale.validate" -}}
{{- $redis := .Values.redis -}}
{{- if and (eq .Values.mode "sidecar") (eq $redis.mode "bundled") -}}
{{- fail "mode=sidecar watches another app's Redis: set redis.mode=external and its address (redis.url, redis.urlSecret, redis.sentinels or redis.clusterNodes)" -}}
{{- end -}}
{{- if eq $redis.mode "external" -}}
{{- if not (or $redis.url $redis.urlSecret.name $redis.sentinels $redis.clusterNodes .Values.secrets.existingSecret) -}}
{{- fail "redis.mode=external needs where Redis is: redis.url, redis.urlSecret, redis.sentinels, redis.clusterNodes, or REDIS_URL in secrets.existingSecret" -}}
{{- end -}}
{{- if and $redis.passwordSecret.name (not $redis.url) -}}
{{- fail "redis.passwordSecret needs redis.url (the password is put into it)" -}}
{{- end -}}
{{- if and $redis.sentinels $redis.clusterNodes -}}
{{- fail "redis.sentinels and redis.clusterNodes exclude each other: a Redis is Sentinel or Cluster" -}}
{{- end -}}
{{- if and $redis.clusterNodes (not (regexMatch "\\{[^}]+\\}" (default "bull" .Values.config.QUEUE_PREFIX))) -}}
{{- fail (printf "redis.clusterNodes: Redis Cluster needs each queue's keys in one slot; set config.QUEUE_PREFIX to a hash tag such as \"{bull}\" (it is %q)" (default "bull" .Values.config.QUEUE_PREFIX)) -}}
{{- end -}}
{{- end -}}
{{- if and (ne .Values.mode "sidecar") .Values.sidecar.scaledObjects -}}
{{- fail "sidecar.scaledObjects is for mode=sidecar; with mode=scaled the workers' scaling is worker.autoscaling" -}}
{{- end -}}
{{- end -}}
