import yaml, json, sys
def crds(path):
    for d in yaml.safe_load_all(open(path)):
        if d and d.get('kind')=='CustomResourceDefinition': yield d
def schema(path, kind, version):
    for d in crds(path):
        if d['spec']['names']['kind']==kind:
            for v in d['spec']['versions']:
                if v['name']==version: return v['schema']['openAPIV3Schema']
def strip(s):
    if isinstance(s, dict):
        return {k: strip(v) for k,v in s.items() if k!='description'}
    if isinstance(s, list): return [strip(x) for x in s]
    return s
I='/work/shared/schemas/crds/istio/crd-all.gen.yaml'
R='/work/shared/schemas/crds/argo-rollouts/'
dr=schema(I,'DestinationRule','v1')['properties']['spec']
vs=schema(I,'VirtualService','v1')['properties']['spec']
ro=schema(R+'rollout-crd.yaml','Rollout','v1alpha1')['properties']['spec']['properties']['strategy']
at=schema(R+'analysis-template-crd.yaml','AnalysisTemplate','v1alpha1')['properties']['spec']
out={'trafficPolicy':strip(dr['properties']['trafficPolicy']),
     'httpRoute':strip(vs['properties']['http']['items']),
     'strategy':strip(ro),
     'analysisJob':strip(at['properties']['metrics']['items']['properties']['provider']['properties']['job'])}
for k,v in out.items(): print(k, len(json.dumps(v,separators=(',',':'))), file=sys.stderr)
json.dump(out, open('schemas.json','w'), separators=(',',':'), sort_keys=True)
