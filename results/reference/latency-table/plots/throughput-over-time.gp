# orbit-bench plot: throughput-over-time. Redraw with `gnuplot throughput-over-time.gp` in this directory;
# the data are the datablocks below (from the results files named in the title).
$d0 << EOD
0.127 159936.2
EOD
$d1 << EOD
0.25 272486
0.299 275937.9
EOD
$d2 << EOD
0.113 179083.3
EOD
$d3 << EOD
0.236 399662.8
EOD
$d4 << EOD
0.219 92239.3
EOD
$d5 << EOD
0.25 134211.2
0.488 163187.5
EOD
$d6 << EOD
0.053 387495.2
EOD
$d7 << EOD
0.145 505138.8
EOD
$d8 << EOD
0.168 120537.6
EOD
$d9 << EOD
0.25 228891.2
0.378 218099.3
EOD
set encoding utf8
set termoption noenhanced
set title "Throughput over time\nrun 20261123-140717-latency-table · workload latency-table · each backend's median repeat of 3 · legend: backend (durability mode)"
set xlabel "time since the load phase started (s)" offset 0,0.4
set ylabel "operations per second"
set grid xtics ytics lc rgb "#dddddd"
set key outside below center horizontal Left reverse maxcols 3 box lc rgb "#999999" width 2 spacing 1.2 height 1.5
set datafile missing "?"
set datafile separator whitespace
set yrange [0:*]
set format y "%.0f"
set terminal pngcairo size 1100,720 font "DejaVu Sans,10" noenhanced
set output "throughput-over-time.png"
plot $d0 using 1:2 with linespoints lc rgb "#1f77b4" dt 2 pt 1 lw 1.5 ps 0.6 title "cow (none) load phase", \
     $d1 using 1:2 with linespoints lc rgb "#1f77b4" dt 1 pt 2 lw 1.5 ps 0.6 title "cow (none) run phase", \
     $d2 using 1:2 with linespoints lc rgb "#2ca02c" dt 2 pt 1 lw 1.5 ps 0.6 title "lsm (none) load phase", \
     $d3 using 1:2 with linespoints lc rgb "#2ca02c" dt 1 pt 3 lw 1.5 ps 0.6 title "lsm (none) run phase", \
     $d4 using 1:2 with linespoints lc rgb "#d62728" dt 2 pt 1 lw 1.5 ps 0.6 title "rocksdb (none) load phase", \
     $d5 using 1:2 with linespoints lc rgb "#d62728" dt 1 pt 4 lw 1.5 ps 0.6 title "rocksdb (none) run phase", \
     $d6 using 1:2 with linespoints lc rgb "#7f7f7f" dt 2 pt 1 lw 1.5 ps 0.6 title "memory (none) load phase", \
     $d7 using 1:2 with linespoints lc rgb "#7f7f7f" dt 1 pt 5 lw 1.5 ps 0.6 title "memory (none) run phase", \
     $d8 using 1:2 with linespoints lc rgb "#9467bd" dt 2 pt 1 lw 1.5 ps 0.6 title "lmdb (none) load phase", \
     $d9 using 1:2 with linespoints lc rgb "#9467bd" dt 1 pt 6 lw 1.5 ps 0.6 title "lmdb (none) run phase"
set terminal svg size 1100,720 font "DejaVu Sans,10" noenhanced background rgb "white"
set output "throughput-over-time.svg"
replot
unset output
