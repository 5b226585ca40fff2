# orbit-bench plot: disk-over-time. Redraw with `gnuplot disk-over-time.gp` in this directory;
# the data are the datablocks below (from the results files named in the title).
$d0 << EOD
0 0.007813
0.303 4.922463
0.322 4.922463
EOD
$d1 << EOD
0 0.000043
0.25 4.293352
EOD
$d2 << EOD
0 0.024659
0.311 2.978126
0.504 4.317984
EOD
$d3 << EOD
0 0
0.153 0
EOD
$d4 << EOD
0 0.007813
0.311 4.796875
0.392 5.742188
EOD
set encoding utf8
set termoption noenhanced
set title "Disk usage over time (bytes of the engine's files)\nrun 20261123-140717-latency-table · workload latency-table · each backend's median repeat of 3 · legend: backend (durability mode)"
set xlabel "time since the load phase started (s)" offset 0,0.4
set ylabel "disk usage (MiB)"
set grid xtics ytics lc rgb "#dddddd"
set key outside below center horizontal Left reverse maxcols 3 box lc rgb "#999999" width 2 spacing 1.2 height 1.5
set datafile missing "?"
set datafile separator whitespace
set yrange [0:*]
set terminal pngcairo size 1100,720 font "DejaVu Sans,10" noenhanced
set output "disk-over-time.png"
plot $d0 using 1:2 with linespoints lc rgb "#1f77b4" dt 1 pt 1 lw 1.5 ps 0.5 title "cow (none)", \
     $d1 using 1:2 with linespoints lc rgb "#2ca02c" dt 1 pt 1 lw 1.5 ps 0.5 title "lsm (none)", \
     $d2 using 1:2 with linespoints lc rgb "#d62728" dt 1 pt 1 lw 1.5 ps 0.5 title "rocksdb (none)", \
     $d3 using 1:2 with linespoints lc rgb "#7f7f7f" dt 1 pt 1 lw 1.5 ps 0.5 title "memory (none)", \
     $d4 using 1:2 with linespoints lc rgb "#9467bd" dt 1 pt 1 lw 1.5 ps 0.5 title "lmdb (none)"
set terminal svg size 1100,720 font "DejaVu Sans,10" noenhanced background rgb "white"
set output "disk-over-time.svg"
replot
unset output
