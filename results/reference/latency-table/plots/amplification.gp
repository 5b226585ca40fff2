# orbit-bench plot: amplification. Redraw with `gnuplot amplification.gp` in this directory;
# the data are the datablocks below (from the results files named in the title).
$amp << EOD
"cow (none)" ? 0.0008 n/a 0 0 0.0008
"lsm (none)" 1.1237 1.2935 1.12 1.29 1.1237 1.2935
"rocksdb (none)" ? ? n/a n/a 0 0
"memory (none)" ? ? n/a n/a 0 0
"lmdb (none)" ? 2.1784 n/a 2.18 0 2.1784
EOD
set encoding utf8
set termoption noenhanced
set title "Write and space amplification per backend (end of run)\nrun 20261123-141245-latency-table · workload latency-table · each backend's median repeat of 3 · legend: backend (durability mode)\nn/a: the engine does not report it"
set xlabel "backend (durability mode)" offset 0,0.4
set ylabel "amplification (×)"
set grid xtics ytics lc rgb "#dddddd"
set key outside below center horizontal Left reverse maxcols 3 box lc rgb "#999999" width 2 spacing 1.2 height 1.5
set datafile missing "?"
set datafile separator whitespace
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set yrange [0:2.61408]
set xtics nomirror
set grid noxtics ytics
set key inside top left vertical
set terminal pngcairo size 1100,720 font "DejaVu Sans,10" noenhanced
set output "amplification.png"
plot $amp using 2:xtic(1) lc rgb "#1f77b4" title "write amplification (disk bytes written / user bytes written)", \
     $amp using 3 lc rgb "#ff7f0e" title "space amplification (disk bytes / live logical bytes)", \
     $amp using ($0-0.166667):6:4 with labels offset 0,0.8 notitle, \
     $amp using ($0+0.166667):7:5 with labels offset 0,0.8 notitle
set terminal svg size 1100,720 font "DejaVu Sans,10" noenhanced background rgb "white"
set output "amplification.svg"
replot
unset output
