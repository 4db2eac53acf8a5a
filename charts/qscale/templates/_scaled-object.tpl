{{/*
A KEDA ScaledObject on the sidecar's external scaler: (dict "ctx" $ "name" … "deployment" …
"queue" … "keda" <settings like worker.autoscaling.keda> "labels" <labels YAML>).
*/}}
{{- define "qscale.scaledObject" -}}
{{- $keda := .keda -}}
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: {{ .name }}
  namespace: {{ .ctx.Release.Namespace }}
  labels:
    {{- .labels | nindent 4 }}
spec:
  scaleTargetRef:
    name: {{ .deployment }}
  minReplicaCount: {{ $keda.minReplicaCount }}
  maxReplicaCount: {{ $keda.maxReplicaCount }}
  pollingInterval: {{ $keda.pollingInterval }}
  cooldownPeriod: {{ $keda.cooldownPeriod }}
  {{- with $keda.fallback }}
  fallback:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $keda.behavior }}
  advanced:
    horizontalPodAutoscalerConfig:
      behavior:
        {{- toYaml . | nindent 8 }}
  {{- end }}
  triggers:
    - type: {{ $keda.trigger }}
      useCachedMetrics: {{ $keda.useCachedMetrics }}
      metadata:
        scalerAddress: {{ include "qscale.scalerAddress" .ctx }}
        queue: {{ .queue | quote }}
        {{- range $key, $value := $keda.metadata }}
        {{ $key }}: {{ $value | toString | quote }}
        {{- end }}
{{- end -}}
