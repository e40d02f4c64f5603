{{/*
The chart takes its objects from the repository's config/ (files/config is a
symlink to it), so kustomize's install and this one have one source: a
template reads a file, applies the values to the fields they set, and emits
the result. Fields no value names stay exactly as config/ has them (security
contexts, probes, RBAC rules, flags).
*/}}

{{/*
Labels of Helm's conventions on every rendered object's metadata. Selectors
and the pod template keep config/'s labels only, so an installation made
with kustomize can be taken over (Deployment selectors are immutable).
tests/helm/test_chart.py takes exactly these off before comparing with
`kubectl kustomize config/default`.
*/}}
{{- define "gtoken.labels" -}}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{/*
The documents of one file under config/, as text, with config/'s namespace
(gtoken-system, wherever it appears: metadata, RoleBinding subjects, the
webhook's Service reference and namespaceSelector, the ServiceMonitor's
namespaceSelector) replaced by the release's.
Argument: (list $ "manager/deployment.yaml").
*/}}
{{- define "gtoken.configText" -}}
{{- $ctx := index . 0 -}}
{{- $path := printf "files/config/%s" (index . 1) -}}
{{- $text := $ctx.Files.Get $path -}}
{{- if not $text }}{{ fail (printf "%s is missing or empty (files/config must link to the repository's config/)" $path) }}{{ end -}}
{{- $text | replace "gtoken-system" $ctx.Release.Namespace -}}
{{- end }}

{{/*
One object (a map read with fromYaml) emitted as a YAML document with the
chart's labels added to its own. Argument: (list $ $object).
*/}}
{{- define "gtoken.emit" -}}
{{- $ctx := index . 0 -}}
{{- $obj := index . 1 -}}
{{- if or (not $obj) (hasKey $obj "Error") }}{{ fail (printf "not an object from config/: %v" $obj) }}{{ end -}}
{{- $meta := $obj.metadata -}}
{{- $_ := set $meta "labels" (merge (dict) ($meta.labels | default dict) (include "gtoken.labels" $ctx | fromYaml)) -}}
---
{{ toYaml $obj }}
{{- end }}

{{/*
Every object of one file under config/, unchanged but for the namespace and
the labels. Argument: (list $ "rbac/bindings.yaml").
*/}}
{{- define "gtoken.configObjects" -}}
{{- $ctx := index . 0 -}}
{{- range $doc := regexSplit "(?m)^---[ \t]*$" (include "gtoken.configText" .) -1 }}
{{- $obj := fromYaml $doc }}
{{- if $obj }}
{{ include "gtoken.emit" (list $ctx $obj) }}
{{- end }}
{{- end }}
{{- end }}

{{/* The image reference of {repository, tag}. */}}
{{- define "gtoken.image" -}}
{{- printf "%s:%s" .repository (toString .tag) -}}
{{- end }}
