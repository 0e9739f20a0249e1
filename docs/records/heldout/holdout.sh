#!/bin/bash
# holdout.sh DS OUTPREFIX : first 80% episodes (file order) -> OUTPREFIX_dev, rest -> OUTPREFIX_held
set -e
ds=$1; out=$2
n=$(ls $ds/episodes | wc -l); k=$(( (n*8+5)/10 ))
rm -rf ${out}_dev ${out}_held; mkdir -p ${out}_dev/episodes ${out}_held/episodes
ls $ds/episodes | sort | head -n $k | while read f; do cp $ds/episodes/$f ${out}_dev/episodes/; done
ls $ds/episodes | sort | tail -n +$((k+1)) | while read f; do cp $ds/episodes/$f ${out}_held/episodes/; done
python3 - "$ds" "$out" <<'PY'
import json,sys
ds,out=sys.argv[1],sys.argv[2]
m=json.load(open(ds+'/dataset.json'))
for s in ['dev','held']:
    m2=dict(m); m2['name']=m['name']+'_'+s
    json.dump(m2,open(f'{out}_{s}/dataset.json','w'),indent=1)
PY
for f in robot.xml; do [ -f $ds/$f ] && cp $ds/$f ${out}_dev/ && cp $ds/$f ${out}_held/; done
echo "$k dev, $((n-k)) held"
